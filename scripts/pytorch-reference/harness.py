"""What both PyTorch references share: the command line, the process group, the timed loop and
the JSON line. A model script supplies the network, its batches and its loss."""
import argparse
import json
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn


def parse(description, global_batch, extra=None):
    """--ranks, --threads, --global-batch, --warmup, --steps (and `extra(parser)`'s options), checked."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="threads of the single process (--ranks 1 only)")
    parser.add_argument("--global-batch", type=int, default=global_batch)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    if extra:
        extra(parser)
    args = parser.parse_args()
    if args.ranks < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--ranks, --threads and --steps must be at least 1, --warmup at least 0")
    if args.ranks > 1 and args.threads != 1:
        parser.error("--threads applies to --ranks 1 only (each DDP rank runs one thread)")
    if args.global_batch % args.ranks:
        parser.error(f"--global-batch {args.global_batch} does not split evenly over {args.ranks} ranks")
    return args


def launch(run, args):
    """run(rank, args) in this process (--ranks 1) or in --ranks spawned processes."""
    if args.ranks == 1:
        run(0, args)
    else:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            args.port = s.getsockname()[1]
        mp.spawn(run, args=(args,), nprocs=args.ranks, join=True)


def start(rank, args):
    """Threads and (under DDP) the gloo process group of this rank; returns its thread count."""
    threads = 1 if args.ranks > 1 else args.threads
    torch.set_num_threads(threads)
    if args.ranks > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=args.ranks)
    torch.manual_seed(42)
    return threads


def train_and_report(rank, args, name, model, batch, loss_of, threads, tokens_per_sample=None, ddp_options=None):
    """Wraps `model` in DDP when there are several ranks, times `--warmup + --steps` full steps
    (batch(), zero_grad, forward, loss_of(output, target), backward, AdamW step as `tandem bench`'s
    default: lr 1e-3, no weight decay), and has rank 0 print one JSON line of medians."""
    parameters = sum(p.numel() for p in model.parameters())
    if args.ranks > 1:
        model = nn.parallel.DistributedDataParallel(model, **(ddp_options or {}))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    times = []
    model.train()
    for step in range(args.warmup + args.steps):
        started = time.perf_counter()
        x, y = batch()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(model(x), y)
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    if rank == 0:
        median = statistics.median(times)
        report = {"model": name, "ranks": args.ranks, "threads": threads, "global_batch": args.global_batch,
                  "step_ms_median": round(median * 1e3, 3), "samples_per_second": round(args.global_batch / median, 2)}
        if tokens_per_sample:
            report["tokens_per_second"] = round(args.global_batch * tokens_per_sample / median, 1)
        report.update(parameters=parameters, loss=round(loss.item(), 4), torch=torch.__version__)
        print(json.dumps(report), flush=True)
    if args.ranks > 1:
        dist.destroy_process_group()
