"""Mutation check of the layer tests: does every plausible bug in layers.py make them fail?

For each hand-written mutation below (one textual change of ``assignment/layers.py``, a bug a
student or a maintainer could plausibly write), this script

1. copies the repository's ``assignment/`` package (the built Cython extension included),
   ``tests/`` and ``pyproject.toml`` into a fresh temporary directory;
2. applies the single mutation to the copy's ``layers.py``, after checking that the text it
   replaces occurs exactly once;
3. runs the layer test files in that directory with ``PYTHONPATH`` pointing at the copy
   first, and checks from pytest's header line (written by ``tests/conftest.py``) that the
   mutated copy, not the editable install, is the ``assignment.layers`` under test;
4. reports the mutant as caught (pytest failed; the first failing test is shown) or survived.

An unmutated copy runs first and must pass, so "caught" means "caught by a test".

    .venv/bin/python scripts/mutate_layers.py                 # all mutants, table on stdout
    .venv/bin/python scripts/mutate_layers.py --write docs/mutation_check.md
    .venv/bin/python scripts/mutate_layers.py --only svm_margin_0 bn_unbiased_var
    .venv/bin/python scripts/mutate_layers.py --all-failures   # no -x: count every failing test

Exits 1 when any mutant survives.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TEST_FILES = [
    "tests/test_cs231n_values.py",
    "tests/test_layers_torch.py",
    "tests/test_layers_numeric.py",
    "tests/test_layers_properties.py",
    "tests/test_layer_errors.py",
    "tests/test_layers_contract.py",
    "tests/ops/",
]

# name -> (what the bug is, text in layers.py, replacement)
MUTANTS = {
    "affine_fwd_upcast": (
        "affine_forward silently upcasts float32 input to float64",
        "    out = x.reshape(x.shape[0], D) @ w + b\n",
        "    out = x.reshape(x.shape[0], D).astype(np.float64) @ w + b\n",
    ),
    "affine_bwd_transpose": (
        "affine_backward: dw from the swapped product, reshaped to fit",
        "    dw = x2d.T @ dout\n",
        "    dw = (dout.T @ x2d).reshape(w.shape)\n",
    ),
    "relu_fwd_in_place": (
        "relu_forward writes its result into x (mutates the input)",
        "    out = np.maximum(x, 0)\n",
        "    out = np.maximum(x, 0, out=x)\n",
    ),
    "relu_bwd_passes_negatives": (
        "relu_backward lets the gradient through where x < 0",
        "    dx = dout * (x > 0)\n",
        "    dx = dout * (x != 0)\n",
    ),
    "relu_bwd_kink": (
        "relu_backward takes the derivative at exactly 0 to be 1",
        "    dx = dout * (x > 0)\n",
        "    dx = dout * (x >= 0)\n",
    ),
    "svm_margin_0": (
        "svm_loss with margin 0 instead of 1",
        "    margins = np.maximum(0, x - x[rows, y][:, None] + 1)\n",
        "    margins = np.maximum(0, x - x[rows, y][:, None] + 0)\n",
    ),
    "svm_no_skip_true_class": (
        "svm_loss does not skip j = y_i",
        "    margins[rows, y] = 0\n",
        "",
    ),
    "svm_dx_true_class_sign": (
        "svm_loss: gradient of the true-class score with the wrong sign",
        "    positive[rows, y] = -positive.sum(axis=1)\n",
        "    positive[rows, y] = positive.sum(axis=1)\n",
    ),
    "softmax_no_mean": (
        "softmax_loss: loss summed, not averaged, over N",
        "    loss = -log_probs[rows, y].sum() / N\n",
        "    loss = -log_probs[rows, y].sum()\n",
    ),
    "softmax_no_shift": (
        "softmax_loss: exp of the raw scores (no max shift; overflows)",
        "    shifted = x - x.max(axis=1, keepdims=True)\n",
        "    shifted = x\n",
    ),
    "bn_unbiased_var": (
        "batchnorm_forward: unbiased (1/(N-1)) variance",
        "        var = x.var(axis=0)\n",
        "        var = x.var(axis=0, ddof=1)\n",
    ),
    "bn_momentum_flipped": (
        "batchnorm_forward: running mean update with momentum and 1 - momentum swapped",
        "        running_mean = momentum * running_mean + (1 - momentum) * mean\n",
        "        running_mean = (1 - momentum) * running_mean + momentum * mean\n",
    ),
    "bn_test_uses_batch_stats": (
        "batchnorm_forward: test mode normalizes with the batch statistics",
        "        mean, var = running_mean, running_var\n",
        "        mean, var = x.mean(axis=0), x.var(axis=0)\n",
    ),
    "bn_eps_outside_sqrt": (
        "batchnorm_forward: eps added outside the square root",
        "    inv_std = 1 / np.sqrt(var + eps)\n    x_hat = (x - mean) * inv_std\n    out = gamma * x_hat + beta\n"
        "    cache = (mode,",
        "    inv_std = 1 / (np.sqrt(var) + eps)\n    x_hat = (x - mean) * inv_std\n    out = gamma * x_hat + beta\n"
        "    cache = (mode,",
    ),
    "bn_bwd_missing_half": (
        "batchnorm_backward: d sqrt(v)/dv without the 1/2",
        "        dvar = dstd * 0.5 * inv_std",
        "        dvar = dstd * inv_std",
    ),
    "bn_bwd_alt_no_mean_term": (
        "batchnorm_backward_alt: drops the sum(g) term (the mean's gradient)",
        "(N * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))",
        "(N * g - x_hat * (g * x_hat).sum(axis=0))",
    ),
    "bn_bwd_dgamma": (
        "batchnorm_backward: dgamma = sum(dout) (forgets x_hat)",
        "    dgamma = (dout * x_hat).sum(axis=0)\n    dx_hat = dout * gamma\n",
        "    dgamma = dout.sum(axis=0)\n    dx_hat = dout * gamma\n",
    ),
    "ln_wrong_axis": (
        "layernorm_forward: statistics over the batch axis instead of the features",
        "    mean = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)\n",
        "    mean = x.mean(axis=0, keepdims=True)\n    var = x.var(axis=0, keepdims=True)\n",
    ),
    "ln_bwd_wrong_axis": (
        "layernorm_backward: sums over the batch instead of the features",
        "(D * g - g.sum(axis=1, keepdims=True) - x_hat",
        "(D * g - g.sum(axis=0, keepdims=True) - x_hat",
    ),
    "dropout_scale_p": (
        "dropout_forward: kept units scaled by p instead of 1/p",
        '        mask = (keep / p if kind == "inverted" else keep).astype(x.dtype)\n',
        '        mask = (keep * p if kind == "inverted" else keep).astype(x.dtype)\n',
    ),
    "dropout_p_is_drop": (
        "dropout_forward: p treated as the DROP probability",
        "        keep = rng.random(x.shape) < p\n",
        "        keep = rng.random(x.shape) >= p\n",
    ),
    "dropout_ignores_seed": (
        "dropout_forward: seed ignored (a fresh mask every call)",
        '        rng = np.random.default_rng(dropout_param["seed"])\n',
        "        rng = np.random.default_rng()\n",
    ),
    "conv_pad_one_side": (
        "conv_forward_naive: width padding all on the right",
        "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n    w_rows = w.reshape(F, -1)\n",
        "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (0, 2 * pad)))\n    w_rows = w.reshape(F, -1)\n",
    ),
    "conv_kernel_flipped": (
        "conv_forward_naive: true convolution (flipped kernel) instead of cross-correlation",
        "    w_rows = w.reshape(F, -1)\n    out = np.empty",
        "    w_rows = w[:, :, ::-1, ::-1].reshape(F, -1)\n    out = np.empty",
    ),
    "conv_stride_off_by_one": (
        "conv_forward_naive: horizontal offset uses stride - 1",
        "j * stride : j * stride + WW]",
        "j * (stride - 1) : j * (stride - 1) + WW]",
    ),
    "conv_bwd_height_twice": (
        "conv_backward_naive: the window width indexed with the height (non-square kernels)",
        "slice(j * stride, j * stride + WW)",
        "slice(j * stride, j * stride + HH)",
    ),
    "conv_bwd_db_mean": (
        "conv_backward_naive: db averaged over the spatial positions",
        "    db = dout.sum(axis=(0, 2, 3))\n",
        "    db = dout.sum(axis=(0, 2, 3)) / (dout.shape[2] * dout.shape[3])\n",
    ),
    "avg_pool_backward_unscaled": (
        "avg_pool_backward_naive: each position gets the whole dout, not dout / (PH * PW)",
        "    per_position = dout / (ph * pw)\n",
        "    per_position = dout\n",
    ),
    "avg_pool_width_is_height": (
        "avg_pool_forward_naive: window width taken from pool_height",
        "x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]\n            out[:, :, i, j] = window.mean",  # noqa: E501
        "x[:, :, i * stride : i * stride + ph, j * stride : j * stride + ph]\n            out[:, :, i, j] = window.mean",  # noqa: E501
    ),
    "sigmoid_naive_overflow": (
        "sigmoid_forward: 1 / (1 + exp(-x)), which overflows (and warns) for x far below 0",
        "    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))\n",
        "    out = 1 / (1 + np.exp(-x))\n",
    ),
    "sigmoid_backward_no_one_minus": (
        "sigmoid_backward: dout * out, the (1 - out) factor forgotten",
        "    dx = dout * out * (1 - out)\n",
        "    dx = dout * out\n",
    ),
    "tanh_backward_no_square": (
        "tanh_backward: 1 - out instead of 1 - out ** 2",
        "    dx = dout * (1 - out * out)\n",
        "    dx = dout * (1 - out)\n",
    ),
    "bce_divides_by_size": (
        "sigmoid_cross_entropy_loss: divides by x.size instead of N (wrong for several units per example)",
        "    N = x.shape[0]\n    t = y.astype(x.dtype)\n",
        "    N = x.size\n    t = y.astype(x.dtype)\n",
    ),
    "bce_unstable_log": (
        "sigmoid_cross_entropy_loss: -(t log p + (1 - t) log(1 - p)), inf or nan for scores of large magnitude",
        "    loss = (np.maximum(x, 0) - x * t + softplus).sum() / N\n",
        "    q = 1 / (1 + np.exp(-x))\n    loss = -(t * np.log(q) + (1 - t) * np.log(1 - q)).sum() / N\n",
    ),
    "dropout_vanilla_test_identity": (
        "dropout_forward: vanilla dropout is the identity at test time (forgets the factor p)",
        "        out = x * p\n",
        "        out = x.copy()\n",
    ),
    "pool_ignores_stride": (
        "max_pool_forward_naive: windows advance by 1 whatever the stride",
        "x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]\n            out[:, :, i, j] = window.max",
        "x[:, :, i : i + ph, j : j + pw]\n            out[:, :, i, j] = window.max",
    ),
    "pool_width_is_height": (
        "max_pool_forward_naive: window width taken from pool_height",
        "x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]\n            out[:, :, i, j] = window.max",
        "x[:, :, i * stride : i * stride + ph, j * stride : j * stride + ph]\n            out[:, :, i, j] = window.max",
    ),
    "pool_bwd_all_ties": (
        "max_pool_backward_naive: gradient to every tied maximum",
        "            first_max = window.argmax(axis=2)[:, :, None]\n"
        "            routed = np.zeros(window.shape, dtype=x.dtype)\n"
        "            np.put_along_axis(routed, first_max, dout[:, :, i, j][:, :, None], axis=2)\n",
        "            routed = (window == window.max(axis=2, keepdims=True)) * dout[:, :, i, j][:, :, None]\n",
    ),
    "pool_bwd_overwrite": (
        "max_pool_backward_naive: overlapping windows overwrite instead of accumulating",
        "            dx[:, :, hs, ws] += routed.reshape(N, C, ph, pw)\n",
        "            dx[:, :, hs, ws] = routed.reshape(N, C, ph, pw)\n",
    ),
    "sbn_no_transpose": (
        "spatial_batchnorm_forward: reshapes (N, C, H, W) to (-1, C) without moving C last",
        "    columns = x.transpose(0, 2, 3, 1).reshape(-1, C)\n",
        "    columns = x.reshape(-1, C)\n",
    ),
    "gn_interleaved_groups": (
        "spatial_groupnorm_forward: groups of interleaved rather than contiguous channels",
        "    groups = x.reshape(N, G, -1)\n",
        "    groups = x.reshape(N, C // G, G, H * W).transpose(0, 2, 1, 3).reshape(N, G, -1)\n",
    ),
}


def make_copy(tmp):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(REPO / "assignment", tmp / "assignment", ignore=ignore)
    shutil.copytree(REPO / "tests", tmp / "tests", ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", tmp / "pyproject.toml")


def apply(layers_py, old, new, name):
    text = layers_py.read_text()
    count = text.count(old)
    if count != 1:
        raise SystemExit(f"mutant {name}: the text to replace occurs {count} times in layers.py (need exactly 1)")
    layers_py.write_text(text.replace(old, new))


def run_tests(tmp, stop_early):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=-ra", *TEST_FILES]
    if stop_early:
        cmd.insert(3, "-x")
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    out = proc.stdout + proc.stderr
    want = f"assignment.layers: {tmp / 'assignment' / 'layers.py'}"
    if want not in out:
        raise SystemExit(f"the tests did not import the copy under {tmp}; pytest said:\n{out[:3000]}")
    return proc.returncode, out, elapsed


def failures(out):
    """The failing test ids from pytest's short summary, without the tests/ prefix."""
    return [t.replace("tests/", "", 1) for t in re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.MULTILINE)]


def check(name, mutation, stop_early=True):
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as d:
        tmp = Path(d)
        make_copy(tmp)
        if mutation is not None:
            _, old, new = mutation
            apply(tmp / "assignment" / "layers.py", old, new, name)
        return run_tests(tmp, stop_early)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--write", metavar="PATH", help="also write the results as a markdown table")
    parser.add_argument(
        "--all-failures",
        action="store_true",
        help="run every test for every mutant (no -x) and report how many fail, per file",
    )
    args = parser.parse_args(argv)
    names = args.only or list(MUTANTS)
    unknown = sorted(set(names) - set(MUTANTS))
    if unknown:
        parser.error(f"unknown mutants: {unknown}")

    rc, out, elapsed = check("baseline", None, stop_early=False)
    if rc != 0:
        print(out[-5000:])
        raise SystemExit("the unmutated copy fails its tests: fix that first")
    print(f"baseline: tests pass on the unmutated copy ({elapsed:.1f} s)")

    stop_early = not args.all_failures
    rows = []
    for name in names:
        rc, out, elapsed = check(name, MUTANTS[name], stop_early)
        failed = failures(out)
        caught = rc != 0
        if not caught:
            detail = "-"
        elif stop_early:
            detail = f"`{failed[0]}`" if failed else "(see pytest output)"
        else:
            per_file = {}
            for test in failed:
                per_file[test.split("::")[0]] = per_file.get(test.split("::")[0], 0) + 1
            detail = f"{len(failed)}: " + ", ".join(f"{f.removeprefix('test_').removesuffix('.py')} {n}"
                                                   for f, n in per_file.items())
        rows.append((name, MUTANTS[name][0], caught, detail, elapsed))
        print(f"{name:28s} {'caught' if caught else 'SURVIVED':9s} {elapsed:6.1f} s  {detail}", flush=True)

    survived = [r[0] for r in rows if not r[2]]
    header = "first failing test" if stop_early else "failing tests: total, then per file"
    table = [f"| mutant | bug | result | {header} | seconds |", "| --- | --- | --- | --- | ---: |"]
    for name, what, caught, detail, secs in rows:
        table.append(f"| `{name}` | {what} | {'caught' if caught else '**survived**'} | {detail} | {secs:.1f} |")
    summary = f"{len(rows) - len(survived)} of {len(rows)} mutants caught"
    print(summary + (f"; survived: {survived}" if survived else ""))
    if args.write:
        command = "python scripts/mutate_layers.py"
        if args.only:
            command += " --only " + " ".join(args.only)
        if args.all_failures:
            command += " --all-failures"
        command += f" --write {args.write}"
        how = "every test runs" if args.all_failures else "`pytest -x` stops at the first failure"
        text = "\n".join(
            [
                "# Mutation check of the layer tests",
                "",
                "Each row is one hand-written bug put into a copy of `assignment/layers.py`. The layer",
                "test files",
                "",
                *(f"- `{f}`" for f in TEST_FILES),
                "",
                f"run against that copy ({how}; the run checks from pytest's header that the copy",
                "is what gets imported), and the mutant counts as caught when they fail. The",
                "unmutated copy passes first.",
                "",
                "Produced from the repository root, with the project's `.venv/bin/python`, by",
                "",
                f"    {command}",
                "",
                "The mutations and their descriptions live in that script.",
                "",
                f"**{summary}.**",
                "",
                *table,
                "",
            ]
        )
        path = REPO / args.write
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
