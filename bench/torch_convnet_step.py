"""PyTorch CPU reference for bench/backend.ts: the same MTT ConvNet SGD step and the same matmuls.

Bench-only (Python never ships in the product). Run with the venv from bench/setup-torch.sh:
    python bench/torch_convnet_step.py --batch 256 [--extra-batch 32] [--steps 7] [--warmup 2]
Prints ONE JSON object on stdout.

Network = ml/models/convnet.ts with DEFAULT_CONVNET (Cazenavette et al. 2022, networks.py ConvNet):
    3 x [Conv2d 3x3 (padding 3 in the first block: MNIST 28 -> 32, then 1) + GroupNorm(W, W, affine)
         + ReLU + AvgPool2d(2)]  ->  flatten  ->  Linear(W*4*4, 10)
Step = zero_grad, forward, mean cross-entropy, backward, torch.optim.SGD(lr=0.01) step, loss.item().
PyTorch's own layout (NCHW) and kernels: this is "what PyTorch does with the same network".
"""

import argparse
import json
import os
import statistics
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # numpy is not needed here
os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # torch.profiler's start/stop chatter on stderr
import torch  # noqa: E402
from torch import nn  # noqa: E402

SEED = 20240603
LR = 0.01


def convnet(width=128, depth=3, channels=1, classes=10, hw=28):
    layers, cin, size = [], channels, hw
    for d in range(depth):
        pad = 3 if (d == 0 and channels == 1 and hw == 28) else 1
        layers += [
            nn.Conv2d(cin, width, kernel_size=3, padding=pad),
            nn.GroupNorm(width, width, affine=True),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(kernel_size=2, stride=2),
        ]
        cin, size = width, (size + 2 * pad - 2) // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * size * size, classes))


def timed(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), times


def matmul_gflops(n, reps):
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    ms, _ = timed(lambda: torch.mm(a, b), reps, 1)
    return 2 * n**3 / (ms * 1e6)


def op_group(op):
    """Coarse op classes, the same as bench/_backend-worker.ts's kernelGroup."""
    if any(k in op for k in ("convolution", "addmm", "aten::mm", "matmul", "linear")):
        return "conv_matmul"
    if "pool" in op:
        return "pool"
    return "elementwise_reduce"


def profile_step(step):
    """Self CPU time per aten op over one training step (torch.profiler), the top 10."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops) or 1
    groups = {"conv_matmul": 0.0, "pool": 0.0, "elementwise_reduce": 0.0}
    for e in ops:
        groups[op_group(e.key)] += e.self_cpu_time_total
    return {"op_ms_total": round(total / 1e3, 2),
            "groups": {g: {"ms": round(us / 1e3, 2), "share": round(us / total, 3)} for g, us in groups.items()},
            "top": [{"op": e.key, "ms": round(e.self_cpu_time_total / 1e3, 2), "calls": e.count,
                     "share": round(e.self_cpu_time_total / total, 3)} for e in ops[:10]]}


def convnet_step(batch, steps, warmup, phases):
    torch.manual_seed(SEED)
    net = convnet()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t0 = os.times()
    ms, all_ms = timed(step, steps, 0)
    t1 = os.times()
    out = {"batch": batch, "ms": ms, "all": [round(t, 2) for t in all_ms],
           "cpu_ms_per_step": {"user": round((t1.user - t0.user) * 1e3 / steps, 2),
                               "system": round((t1.system - t0.system) * 1e3 / steps, 2)},
           "params": sum(p.numel() for p in net.parameters())}
    if phases:
        def forward():
            with torch.no_grad():
                loss_fn(net(x), y).item()

        def forward_backward():
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x), y).backward()

        fwd, _ = timed(forward, steps, 1)
        fwd_bwd, _ = timed(forward_backward, steps, 1)
        upd, _ = timed(opt.step, steps, 1)  # grads from the last forward_backward are still in place
        # backward = (forward+backward) - forward, as in bench/_backend-worker.ts. The no_grad forward
        # skips recording the graph, so this slightly over-counts backward.
        out["phases_ms"] = {"forward": round(fwd, 2), "backward": round(fwd_bwd - fwd, 2), "update": round(upd, 2)}
        out["profile"] = profile_step(step)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--extra-batch", type=int, default=0)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-phases", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(os.cpu_count())
    res = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "matmul512_gflops": round(matmul_gflops(512, 5), 2),
        "matmul2048_gflops": round(matmul_gflops(2048, 5), 2),
    }
    main_step = convnet_step(args.batch, args.steps, args.warmup, not args.no_phases)
    res["convnet_step_ms"] = round(main_step["ms"], 2)
    res["convnet_step_ms_all"] = main_step["all"]
    res["params"] = main_step["params"]
    res["convnet_cpu_ms_per_step"] = main_step["cpu_ms_per_step"]
    if "phases_ms" in main_step:
        res["convnet_phases_ms"] = main_step["phases_ms"]
        res["convnet_profile"] = main_step["profile"]
    if args.extra_batch:
        extra = convnet_step(args.extra_batch, args.steps, args.warmup, False)
        res["convnet_step_ms_extra"] = {"batch": args.extra_batch, "ms": round(extra["ms"], 2)}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
