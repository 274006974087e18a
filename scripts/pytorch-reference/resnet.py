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
import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

import harness


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


def run(rank, args):
    threads = harness.start(rank, args)
    options = {}
    if args.ranks > 1 and args.no_broadcast_buffers:  # forward_sync_buffers replaces broadcast_buffers in newer releases
        newer = "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
        options = {"forward_sync_buffers" if newer else "broadcast_buffers": False}
    local_batch = args.global_batch // args.ranks
    # Random images and labels (speed only): a small pool of batches, cycled.
    generator = torch.Generator().manual_seed(1000 + rank)
    pool = [(torch.rand(local_batch, 1, 28, 28, generator=generator),
             torch.randint(0, 10, (local_batch,), generator=generator)) for _ in range(8)]
    steps = iter(range(10**9))
    harness.train_and_report(rank, args, "resnet", resnet(), lambda: pool[next(steps) % len(pool)], F.cross_entropy,
                             threads, ddp_options=options)


def main():
    def extra(parser):
        parser.add_argument("--no-broadcast-buffers", action="store_true",
                            help="DDP without broadcasting rank 0's BatchNorm running statistics every forward")
    harness.launch(run, harness.parse(__doc__, 128, extra))


if __name__ == "__main__":
    main()
