"""PyTorch / numpy twins of bench/_hotpaths.ts: the same math at the same sizes, for bench/backend.ts.

Bench-only. Run with the venv from bench/setup-torch.sh:
    python bench/torch_hotpaths.py --spec '<HotpathSpec JSON>' [--reps 3]
Prints ONE JSON object on stdout: {"hotpaths_ms": {name: {"ms", "all"}}, ...}; 1 warm-up + median of reps.

- mtt_iteration: the MTT ConvNet (GroupNorm(W, W), ReLU, AvgPool2d) written functionally on a flat
  parameter vector; N SGD steps with create_graph=True, loss ||θ_N − θ*||² / ||θ_0 − θ*||², ∂L/∂X.
- cvdd_recovery: BN ConvNets in eval mode (F.batch_norm with running statistics); per voter
  CE + r_bn·Σ_l κ_l (||μ_l − m_l||₂ + ||σ²_l − v_l||₂) with the batch statistics of each BN input.
- lm_step: the byte-level GPT of ml/models/lm.ts (pre-LN, tied head, exact GELU, additive causal
  mask); loss, backward, SGD update.
- sinkhorn: numpy (its OpenBLAS), log-domain Sinkhorn as ml/ops/sinkhorn.ts: float32 cost cached,
  float64 potentials, a row pass (marginal error + f update) and a column pass per iteration.
"""

import argparse
import json
import math
import os
import statistics
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SEED = 20240603


def timed(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"ms": round(statistics.median(times), 2), "all": [round(t, 2) for t in times]}


def convnet_shapes(width, depth, classes, channels=1, hw=28):
    shapes, cin, size, pads = [], channels, hw, []
    for d in range(depth):
        pad = 3 if (d == 0 and channels == 1 and hw == 28) else 1
        shapes += [(width, cin, 3, 3), (width,), (width,), (width,)]
        pads.append(pad)
        cin, size = width, (size + 2 * pad - 2) // 2
    shapes += [(classes, width * size * size), (classes,)]
    return shapes, pads


def init_flat(shapes, gen):
    """Norm gammas 1 and betas 0; every other tensor U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (values do not affect timing)."""
    parts = []
    for k, s in enumerate(shapes):
        is_norm = k < len(shapes) - 2 and k % 4 in (2, 3)
        if is_norm:
            parts.append(torch.ones(s) if k % 4 == 2 else torch.zeros(s))
        else:
            bound = 1 / math.sqrt(math.prod(s[1:]) if len(s) > 1 else s[0])
            parts.append(torch.empty(s).uniform_(-bound, bound, generator=gen))
    return torch.cat([p.reshape(-1) for p in parts])


def unflatten(flat, shapes):
    out, o = [], 0
    for s in shapes:
        n = math.prod(s)
        out.append(flat[o:o + n].view(s))
        o += n
    return out


def convnet_forward(flat, x, shapes, pads, norm, running=None, stats=None):
    p = unflatten(flat, shapes)
    h = x
    for d, pad in enumerate(pads):
        w, b, g, beta = p[4 * d:4 * d + 4]
        h = F.conv2d(h, w, b, padding=pad)
        if norm == "instance":
            h = F.group_norm(h, h.shape[1], g, beta, eps=1e-5)
        else:
            if stats is not None:
                stats.append((h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3), unbiased=False)))
            h = F.batch_norm(h, running[d][0], running[d][1], g, beta, training=False, eps=1e-5)
        h = F.avg_pool2d(F.relu(h), 2)
    return F.linear(h.flatten(1), p[-2], p[-1])


def mtt_iteration(s, reps):
    gen = torch.Generator().manual_seed(SEED)
    shapes, pads = convnet_shapes(s["width"], s["depth"], s["classes"])
    theta0 = init_flat(shapes, gen)
    target = theta0 + 0.01 * torch.randn(theta0.shape, generator=gen)
    x0 = torch.randn(s["images"], 1, 28, 28, generator=gen)
    y = torch.arange(s["images"]) % s["classes"]

    def iteration():
        x = x0.clone().requires_grad_(True)
        theta = theta0.clone().requires_grad_(True)
        start = theta
        for _ in range(s["unrolled_steps"]):
            loss = F.cross_entropy(convnet_forward(theta, x, shapes, pads, "instance"), y)
            (g,) = torch.autograd.grad(loss, theta, create_graph=True)
            theta = theta - s["lr"] * g
        matching = ((theta - target) ** 2).sum() / ((start - target) ** 2).sum()
        (gx,) = torch.autograd.grad(matching, x)
        return gx

    return timed(iteration, reps)


def cvdd_recovery(s, reps):
    gen = torch.Generator().manual_seed(SEED + 1)
    shapes, pads = convnet_shapes(s["width"], s["depth"], s["classes"])
    voters = []
    for _ in range(s["voters"]):
        flat = init_flat(shapes, gen)
        running = [(0.1 * torch.randn(s["width"], generator=gen), 0.5 + torch.rand(s["width"], generator=gen))
                   for _ in range(s["depth"])]
        voters.append((flat, running))
    x0 = torch.randn(s["images"], 1, 28, 28, generator=gen)
    y = torch.arange(s["images"]) % s["classes"]

    def iteration():
        x = x0.clone().requires_grad_(True)
        total = 0
        for flat, running in voters:
            stats = []
            logits = convnet_forward(flat, x, shapes, pads, "batch", running, stats)
            bn = sum((10 if l == 0 else 1) * (torch.linalg.vector_norm(m - running[l][0]) +
                                              torch.linalg.vector_norm(v - running[l][1]))
                     for l, (m, v) in enumerate(stats))
            total = total + (F.cross_entropy(logits, y) + s["r_bn"] * bn) / len(voters)
        (gx,) = torch.autograd.grad(total, x)
        return gx

    return timed(iteration, reps)


class Gpt(torch.nn.Module):
    def __init__(self, layers, d, heads, ctx):
        super().__init__()
        self.heads = heads
        self.wte = torch.nn.Parameter(0.02 * torch.randn(256, d))
        self.wpe = torch.nn.Parameter(0.02 * torch.randn(ctx, d))
        self.blocks = torch.nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(torch.nn.ModuleDict({
                "ln1": torch.nn.LayerNorm(d), "qkv": torch.nn.Linear(d, 3 * d), "o": torch.nn.Linear(d, d),
                "ln2": torch.nn.LayerNorm(d), "w1": torch.nn.Linear(d, 4 * d), "w2": torch.nn.Linear(4 * d, d)}))
        self.lnf = torch.nn.LayerNorm(d)
        self.register_buffer("mask", torch.triu(torch.full((ctx, ctx), -1e9), diagonal=1))

    def forward(self, ids):
        b, t = ids.shape
        d = self.wte.shape[1]
        hd = d // self.heads
        x = self.wte[ids] + self.wpe[:t]
        for blk in self.blocks:
            q, k, v = blk["qkv"](blk["ln1"](x)).split(d, dim=2)
            q, k, v = (m.view(b, t, self.heads, hd).transpose(1, 2) for m in (q, k, v))
            att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd) + self.mask[:t, :t], dim=-1)
            x = x + blk["o"]((att @ v).transpose(1, 2).reshape(b, t, d))
            x = x + blk["w2"](F.gelu(blk["w1"](blk["ln2"](x))))
        return self.lnf(x) @ self.wte.t()


def lm_step(s, reps):
    torch.manual_seed(SEED + 2)
    model = Gpt(s["layers"], s["d_model"], s["heads"], s["seq"])
    opt = torch.optim.SGD(model.parameters(), lr=s["lr"])
    ids = torch.randint(0, 256, (s["batch"], s["seq"]))

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(ids)[:, :-1]
        loss = F.cross_entropy(logits.reshape(-1, 256), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    return timed(step, reps)


def sinkhorn(s, reps):
    import numpy as np

    rng = np.random.default_rng(SEED + 3)
    x = rng.standard_normal((s["n"], s["dim"]), dtype=np.float32)
    y = rng.standard_normal((s["candidates"], s["dim"]), dtype=np.float32)
    n, m = s["n"], s["candidates"]

    def solve():
        # Mean cost in closed form (centred at the target mean), ε relative to it, as ml/ops/sinkhorn.ts.
        xb = x.astype(np.float64).mean(0)
        mean_cost = ((x - xb) ** 2).sum(1).mean() + ((y - xb) ** 2).sum(1).mean()
        eps = s["relative_epsilon"] * mean_cost
        cost = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * (x @ y.T)
        np.maximum(cost, 0, out=cost)
        c_eps = (cost / np.float32(eps)).astype(np.float32)
        log_a = np.full(n, -math.log(n))
        log_b = np.full(m, -math.log(m))
        f = np.zeros(n)
        g = np.zeros(m)

        def lse(z, axis):
            mx = z.max(axis=axis, keepdims=True)
            return (np.log(np.exp(z - mx).sum(axis=axis, dtype=np.float64)) + mx.squeeze(axis).astype(np.float64))

        for _ in range(s["iterations"] + 1):
            gshift = g.max()
            row = lse(((g - gshift) / eps).astype(np.float32)[None, :] - c_eps, 1)
            _error = np.abs(np.exp((f + gshift) / eps + row) - np.exp(log_a)).sum()
            f = eps * log_a - gshift - eps * row
            fshift = f.max()
            col = lse(((f - fshift) / eps).astype(np.float32)[:, None] - c_eps, 0)
            g = eps * log_b - fshift - eps * col
        return f, g

    return timed(solve, reps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    spec = json.loads(args.spec)
    torch.set_num_threads(os.cpu_count())
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "hotpaths_ms": {}}
    for name, fn in (("mtt_iteration", mtt_iteration), ("cvdd_recovery", cvdd_recovery), ("lm_step", lm_step),
                     ("sinkhorn", sinkhorn)):
        try:
            out["hotpaths_ms"][name] = fn(spec[name], args.reps)
        except Exception as e:  # one missing piece (e.g. numpy) must not hide the others
            out["hotpaths_ms"][name] = None
            out.setdefault("errors", {})[name] = f"{type(e).__name__}: {e}"
    try:
        import numpy as np

        out["numpy_version"] = np.__version__
    except ImportError:
        out["numpy_version"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
