"""Per-layer GPU times: the CuPy twins against PyTorch CUDA (cuDNN), in one run.

    python benchmarks/bench_gpu_layers.py --batch-sizes 100 1000 [--write]

For each DeepConvNet convolution and pool (1x28x28 input), forward + backward, float32:
median over --repeats of --iters synchronized iterations, each side after a warm-up.
Needs CuPy and a CUDA device; without them it says so and exits 2.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import update_section  # noqa: E402

from assignment import gpu_layers  # noqa: E402
from assignment.classifiers.cnn import DEEP_CONV_LAYERS  # noqa: E402
from assignment.devices import require_cupy  # noqa: E402


def deep_convnet_layers(batch):
    """(name, kind, x shape, w shape or pool size, pad) for every conv and pool of DeepConvNet."""
    out, C, H = [], 1, 28
    for i, (F, pad, pool) in enumerate(DEEP_CONV_LAYERS, start=1):
        out.append((f"conv{i} {C}->{F} {H}x{H} pad{pad}", "conv", (batch, C, H, H), (F, C, 3, 3), pad))
        C, H = F, H + 2 * pad - 2
        if pool:
            out.append((f"pool 2x2/2 {C}x{H}x{H}", "pool", (batch, C, H, H), None, 0))
            H //= 2
    return out


def timed(fn, sync, iters, repeats):
    fn()
    sync()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        runs.append((time.perf_counter() - start) / iters)
    return statistics.median(runs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    try:
        cp = require_cupy()
    except RuntimeError as e:
        print(f"no GPU here: {e}", file=sys.stderr)
        return 2
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    rows = []
    for batch in args.batch_sizes:
        for name, kind, x_shape, w_shape, pad in deep_convnet_layers(batch):
            x = cp.asarray(rng.standard_normal(x_shape, dtype=np.float32))
            xt = torch.as_tensor(cp.asnumpy(x), device="cuda").requires_grad_()
            if kind == "conv":
                w = cp.asarray(rng.standard_normal(w_shape, dtype=np.float32))
                b = cp.zeros(w_shape[0], dtype=cp.float32)
                conv_param = {"stride": 1, "pad": pad}
                dout = cp.ones(gpu_layers.conv_forward_gpu(x, w, b, conv_param)[0].shape, dtype=cp.float32)
                wt = torch.as_tensor(cp.asnumpy(w), device="cuda").requires_grad_()
                bt = torch.zeros(w_shape[0], device="cuda", requires_grad=True)

                def ours(x=x, w=w, b=b, conv_param=conv_param, dout=dout):
                    gpu_layers.conv_backward_gpu(dout, gpu_layers.conv_forward_gpu(x, w, b, conv_param)[1])

                def theirs(xt=xt, wt=wt, bt=bt, pad=pad):
                    out = F.conv2d(xt, wt, bt, padding=pad)
                    torch.autograd.grad(out, (xt, wt, bt), torch.ones_like(out))
            else:
                dout = cp.ones((x_shape[0], x_shape[1], x_shape[2] // 2, x_shape[3] // 2), dtype=cp.float32)

                def ours(x=x, dout=dout):
                    gpu_layers.max_pool_backward_gpu(dout, gpu_layers.max_pool_forward_gpu(x, pool_param)[1])

                def theirs(xt=xt):
                    out = F.max_pool2d(xt, 2, 2)
                    torch.autograd.grad(out, (xt,), torch.ones_like(out))

            t_ours = timed(ours, cp.cuda.Device().synchronize, args.iters, args.repeats)
            t_theirs = timed(theirs, torch.cuda.synchronize, args.iters, args.repeats)
            rows.append((batch, name, t_ours, t_theirs))
            print(f"batch {batch} {name}: CuPy {t_ours * 1e3:.3f} ms, cuDNN {t_theirs * 1e3:.3f} ms, "
                  f"ratio {t_ours / t_theirs:.2f}")

    command = " ".join(["python benchmarks/bench_gpu_layers.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [
        f"Forward + backward per layer, float32, {torch.cuda.get_device_name()}, CuPy {cp.__version__}, "
        f"torch {torch.__version__}; median of {args.repeats} runs of {args.iters} iterations.",
        "",
        "| batch | layer | CuPy twin (ms) | PyTorch CUDA (ms) | CuPy / PyTorch |",
        "|---:|---|---:|---:|---:|",
        *[f"| {b} | {n} | {o * 1e3:.3f} | {t * 1e3:.3f} | {o / t:.2f} |" for b, n, o, t in rows],
        "",
        f"Command: `{command}`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        update_section("gpu-layers", "GPU layers: CuPy twins against PyTorch CUDA (cuDNN)", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
