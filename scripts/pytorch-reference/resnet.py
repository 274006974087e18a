#!/usr/bin/env python3
"""PyTorch reference for `tandem bench --model resnet`: training throughput of the same network.

Matches Tandem's `resnet` preset (Sources/Tandem/Layers/ModelSpec.swift, BasicBlock.swift):
  conv:16x3p1 (no bias: batch norm follows), bn, relu,
  resblock:16, resblock:16, resblock:32s2, resblock:32, resblock:64s2, resblock:64,
  global average pool, linear:10 (with bias).
Each block is torchvision's BasicBlock: 3x3 conv (block stride, no bias), BN, ReLU, 3x3 conv
(no bias), BN, plus the identity or a projection (1x1 conv with the stride, no bias, then BN)
when the stride or channels change, then ReLU. BatchNorm eps 1e-5, momentum 0.1.
Input 1x28x28, 10 classes; loss cross-entropy. Optimizer: `tandem bench`'s default,
AdamW(lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0) (its cosine schedule is left out).

Under DDP each rank uses plain nn.BatchNorm2d over its own shard (SyncBatchNorm is GPU-only);
Tandem's batch norm sums statistics over the global batch instead.

  --ranks N              N processes (torch.multiprocessing spawn), DDP over gloo on 127.0.0.1,
                         one thread each
  --ranks 1 --threads T  one plain process, no DDP, T threads

Rank 0 prints one JSON line. Tooling only; not part of Tandem's tests.
"""
import argparse
import inspect
import json
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def resnet():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        BasicBlock(16, 16), BasicBlock(16, 16),
        BasicBlock(16, 32, 2), BasicBlock(32, 32),
        BasicBlock(32, 64, 2), BasicBlock(64, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(rank, args):
    world = args.ranks
    distributed = world > 1
    threads = 1 if distributed else args.threads
    torch.set_num_threads(threads)
    if distributed:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=world)
    torch.manual_seed(42)
    model = resnet()
    n_params = sum(p.numel() for p in model.parameters())
    if distributed:
        options = {}
        if args.no_broadcast_buffers:  # forward_sync_buffers replaces broadcast_buffers in newer releases
            newer = "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
            options = {"forward_sync_buffers" if newer else "broadcast_buffers": False}
        model = nn.parallel.DistributedDataParallel(model, **options)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    local_batch = args.global_batch // world
    # Random images and labels (speed only): a small pool of batches, cycled.
    generator = torch.Generator().manual_seed(1000 + rank)
    pool = [(torch.rand(local_batch, 1, 28, 28, generator=generator),
             torch.randint(0, 10, (local_batch,), generator=generator)) for _ in range(8)]

    times = []
    model.train()
    for step in range(args.warmup + args.steps):
        started = time.perf_counter()
        x, y = pool[step % len(pool)]
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - started
        if step >= args.warmup:
            times.append(elapsed)

    if rank == 0:
        median = statistics.median(times)
        print(json.dumps({
            "model": "resnet", "ranks": world, "threads": threads, "global_batch": local_batch * world,
            "step_ms_median": round(median * 1e3, 3),
            "samples_per_second": round(local_batch * world / median, 2),
            "parameters": n_params, "loss": round(loss.item(), 4), "torch": torch.__version__,
        }), flush=True)
    if distributed:
        dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="threads of the single process (--ranks 1 only)")
    parser.add_argument("--global-batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--no-broadcast-buffers", action="store_true",
                        help="DDP without broadcasting rank 0's BatchNorm running statistics every forward")
    args = parser.parse_args()
    if args.ranks < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--ranks, --threads and --steps must be at least 1, --warmup at least 0")
    if args.ranks > 1 and args.threads != 1:
        parser.error("--threads applies to --ranks 1 only (each DDP rank runs one thread)")
    if args.global_batch % args.ranks:
        parser.error(f"--global-batch {args.global_batch} does not split evenly over {args.ranks} ranks")
    if args.ranks == 1:
        run(0, args)
    else:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        args.port = free_port()
        mp.spawn(run, args=(args,), nprocs=args.ranks, join=True)


if __name__ == "__main__":
    main()
