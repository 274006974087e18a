"""The alpha-beta cost model of Tandem's step across hosts: what scripts/cluster-emulation
fits and compares with its measurements, and projects to 1,024 hosts.

A message of m bytes over one link costs alpha + m * beta (alpha: the per-message cost, from
`tandem bench --allreduce` between two emulated hosts; beta: seconds per byte of the link, from
its measured TCP goodput, see `beta_of_points` for why not from the allreduce's large messages). An allreduce of m bytes as a ring over P ranks takes
2(P-1) rounds of m/P bytes each: 2(P-1) alpha + 2(P-1)/P m beta. Placed host by host, a ring's
rounds cross one host link per direction at a time, so on the flat path the links between
hosts set beta even where two neighbours share a host.

- Flat MPI path, P = H * R ranks: the ring above with P, over the whole gradient (one blocking
  allreduce without overlap, bucket by bucket with it).
- Hierarchical path, H hosts of R ranks: rank i of every host runs a ring over H ranks on its
  1/R of each bucket, and the R rings of a host share its link, so a bucket of m bytes takes
  2(H-1) alpha + 2(H-1)/H m beta: the flat ring's 2(P-1)/P becomes 2(H-1)/H (at 8 hosts of 2,
  1.75 instead of 1.875: any allreduce between H hosts must move 2(H-1)/H of the gradient over
  each host's link, so neither path can gain much more than that on bandwidth alone).

The step: forward F, backward B (buckets become ready at the recorded times), the optimizer O
over the part a rank updates (all of it on the flat path, 1/R on the hierarchical one), rank 0's
clip pass, and a few small collectives (the statistics' allreduce and the decision's broadcast,
each ~2 log2 P alpha). With overlap the buckets go one after another through the link as soon
as each is ready and the link is free; without, after backward.

Where it stops being trustworthy: alpha here is what veth, the bridge and two busy cores cost
(tens of microseconds, no propagation delay: this kernel has no netem), so at hundreds of hosts,
where the 2(H-1) alpha terms dominate, a real network's alpha (and switch oversubscription,
stragglers, and Open MPI switching algorithms) make the projection optimistic.
"""
import math

MB = 1 << 20


def fit_alpha(points, ranks=2):
    """alpha (s) from `tandem bench --allreduce --json` points over `ranks` ranks of different
    hosts: the median of the messages of 1 KiB and less, divided by the ring's 2(P-1) rounds."""
    small = sorted(p["microseconds"] * 1e-6 for p in points if p["bytes"] <= 1024)
    return small[len(small) // 2] / (2 * (ranks - 1))


def beta_of_points(points, ranks=2, smallest=64 * 1024):
    """beta (s/byte) as a least-squares line through the allreduce's messages of 64 KiB and
    more would have it. Kept for comparison only: over this kernel's token buckets a lone
    blocking allreduce of more than about two buckets' burst (128 KiB at 100 Mbit/s, 512 KiB
    at 500) reaches only half the link's rate (TCP in both directions at once against the
    shaper), and messages within the burst pass faster than the rate, while the training
    step's overlapped ring rounds keep the link busy at its rate. So the model takes beta
    from the link's measured goodput instead (`beta_of_goodput`)."""
    share = 2 * (ranks - 1) / ranks
    big = [(p["bytes"] * share, p["microseconds"] * 1e-6) for p in points if p["bytes"] >= smallest]
    mx, my = sum(m for m, _ in big) / len(big), sum(t for _, t in big) / len(big)
    return sum((m - mx) * (t - my) for m, t in big) / sum((m - mx) ** 2 for m, _ in big)


def beta_of_goodput(mbit):
    """beta (s/byte) of a link that carried `mbit` Mbit/s of TCP payload (bridge-throughput)."""
    return 8 / (mbit * 1e6)


def buckets(unit_parameters, unit_done, backward, bucket_bytes=MB):
    """Tandem's buckets (GradientBuckets): whole units, last first, about bucket_bytes each, large
    groups cut into bucket-sized pieces; as (bytes, seconds into backward when ready)."""
    capacity = max(1, bucket_bytes // 4)
    groups, upper, lower = [], None, 0
    units = [i for i in range(len(unit_parameters)) if unit_parameters[i] > 0]
    offsets, total = [], 0
    for count in unit_parameters:
        offsets.append(total)
        total += count
    for i in reversed(units):
        lo, hi = offsets[i], offsets[i] + unit_parameters[i]
        if upper is None:
            upper = hi
        lower = lo
        if upper - lower >= capacity:
            groups.append((upper - lower, i))
            upper = None
    if upper is not None and units:
        groups.append((upper - lower, units[0]))
    result = []
    for count, ready_at in groups:
        while count > 0:
            piece = min(capacity, count)
            result.append((4 * piece, unit_done[ready_at] if ready_at < len(unit_done) else backward))
            count -= piece
    return result


def ring(m, ranks, alpha, beta):
    """One ring allreduce of m bytes over `ranks` (0 for a single rank)."""
    if ranks <= 1:
        return 0.0
    return 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * m * beta


def step_seconds(times, hosts, ranks_per_host, path, overlap, alpha, beta, clip=0.0):
    """Predicted step of the emulated benchmark: `times` is the layer-times file (for the shard
    each rank computes), `path` "mpi" or "hierarchical"."""
    F, B, O = times["forward_seconds"], times["backward_seconds"], times["optimizer_seconds"]
    pieces = buckets(times["unit_parameters"], times["unit_done_seconds"], B)
    P = hosts * ranks_per_host
    if path == "hierarchical" and ranks_per_host > 1 and hosts > 1:
        cost = lambda m: ring(m, hosts, alpha, beta)
        optimizer, clip_part = O / ranks_per_host, clip / ranks_per_host
    else:
        cost = lambda m: ring(m, P, alpha, beta)
        optimizer, clip_part = O, clip
    small = 2 * 2 * math.ceil(math.log2(max(P, 2))) * alpha
    if overlap:
        link_free = 0.0
        for m, ready in pieces:
            link_free = max(link_free, ready) + cost(m)
        communication_end = max(B, link_free)
    else:
        communication_end = B + sum(cost(m) for m, _ in pieces)
    return F + communication_end + small + clip_part + optimizer


def efficiency(times, hosts, ranks_per_host, path, overlap, alpha, beta, one_rank_step, clip=0.0):
    """Weak-scaling efficiency: one rank's step over the predicted step (same shard per rank)."""
    return one_rank_step / step_seconds(times, hosts, ranks_per_host, path, overlap, alpha, beta, clip)
