"""PyTorch CPU twin of automl's image nets (automl-core/src/image/net.rs), for bench-image.

Run: python torch_bench.py '<arch json>' BATCH STEPS THREADS
Prints one JSON line: {"images_per_s": ..., "torch": version, "threads": n}.
Times `STEPS` AdamW training steps on random data after two warm-up steps, batch norm in
training mode, like automl_core::image::throughput. `BENCH_TORCH_DEVICE=cuda` runs it on the
GPU instead (for bench-image built with `--features cuda`), synchronising around the timing.
"""
import json
import os
import sys
import time

import torch
from torch import nn


class ConvBn(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = ConvBn(cin, cout, 3, stride)
        self.b = ConvBn(cout, cout, 3, 1)
        self.short = ConvBn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.b(torch.relu(self.a(x)))
        s = self.short(x) if self.short is not None else x
        return torch.relu(y + s)


def final_side(spec):
    """Side of the last feature map, as ArchSpec::final_side computes it."""
    s = spec["side"]
    if spec["arch"] == "resnet":
        s0 = s // 2 if s > 32 else s
        return max(1, -(-(-(-s0 // 2)) // 2))
    s2 = s // 4
    return max(1, s2 // 2 if s2 > 8 else s2)


class Net(nn.Module):
    def __init__(self, spec):
        super().__init__()
        c, w = spec["in_channels"], spec["width"]
        self.arch = spec["arch"]
        if self.arch == "resnet":
            self.stem = ConvBn(c, w, 3, 1)
            self.pool = spec["side"] > 32
            self.blocks = nn.ModuleList([Block(w, w, 1), Block(w, 2 * w, 2), Block(2 * w, 4 * w, 2)])
        else:
            self.layers = nn.ModuleList([ConvBn(c, w, 3, 1), ConvBn(w, 2 * w, 3, 1), ConvBn(2 * w, 4 * w, 3, 1)])
        # A flat head reads the last feature map flattened (automl's ArchSpec::flat_head).
        self.flat = bool(spec.get("flat_head", False))
        side = final_side(spec)
        self.head = nn.Linear(4 * w * (side * side if self.flat else 1), spec["n_classes"])

    def forward(self, x):
        if self.arch == "resnet":
            x = torch.relu(self.stem(x))
            if self.pool:
                x = torch.max_pool2d(x, 2)
            for b in self.blocks:
                x = b(x)
        else:
            for i, layer in enumerate(self.layers):
                x = torch.relu(layer(x))
                if i < 2 or x.shape[2] > 8:
                    x = torch.max_pool2d(x, 2)
        return self.head(x.flatten(1) if self.flat else x.mean(dim=(2, 3)))


def main():
    spec = json.loads(sys.argv[1])
    batch, steps, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device(os.environ.get("BENCH_TORCH_DEVICE", "cpu"))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    net = Net(spec).to(device)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.02)
    x = torch.rand(batch, spec["in_channels"], spec["side"], spec["side"], device=device)
    y = (torch.arange(batch) % spec["n_classes"]).to(device)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for s in range(steps + 2):
        if s == 2:
            sync()
            t0 = time.perf_counter()
        # Same per-batch input work as the Rust side: normalise a fresh copy.
        xb = (x - 0.5) / 0.25
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), y)
        loss.backward()
        opt.step()
        loss.item()
    sync()
    dt = time.perf_counter() - t0
    print(json.dumps({"images_per_s": steps * batch / dt, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "device": str(device),
                      "cuda_build": torch.version.cuda is not None}))


if __name__ == "__main__":
    main()
