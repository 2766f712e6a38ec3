"""The worker: runs INSIDE the sandbox, imports the submission, calls its functions, writes arrays.

    python -I -S worker.py --stage STAGE --io IO [--out OUT] [--drop-uid U] [--contain [--seccomp-only]]
                           [--syspath DIR]...

- ``STAGE`` holds the ``assignment`` package to import: the submission's student-owned modules
  and the grader's own copies of the given ones (``grader/stage.py`` builds it).
- ``IO/plan.json`` lists the cases to run, in order: ``{"cases": [{"id", "recipe", "params"}]}``;
  ``IO/inputs.npz`` holds their arrays as ``<id>.<name>``. Nothing else is known here: no
  reference value, no tolerance, no points, no hint.
- ``OUT`` (default ``IO/out``) receives ``outputs.npz``: ``<id>.<name>`` arrays, or
  ``<id>.__error__`` (a string) when the call raised, and ``__done__`` once every case ran.
  It is rewritten atomically after a case whenever ``SAVE_EVERY`` seconds have passed since
  the last write, and at the end, so a worker that dies keeps most of what it finished (the
  parent runs the cases it did not get again).
  ``OUT/progress`` holds the index of the case being run, for the parent's per-case clock.

This file is self-contained (numpy, the standard library and ``contain.py`` beside it) because
it is copied alone into the sandbox. Everything it writes is untrusted by the parent: student code runs
in this process and may change anything here. The parent validates the file it gets.

The worker is started with ``python -I -S``: no site-packages, no ``.pth`` file, so no editable
finder of the grader's checkout; ``--syspath`` adds numpy's (and pyseccomp's) directory. In
order, it: imports what it needs itself (numpy, json, zipfile, traceback, ``contain.py`` from
its own directory), reads its inputs, becomes uid/gid ``U`` with no supplementary groups when
given ``--drop-uid U``, applies Landlock + seccomp to itself with ``--contain`` (reads: the
interpreter, numpy, the stage; writes: ``OUT`` only; no new processes, no signals to others, no
sockets but AF_UNIX; ``--seccomp-only``: seccomp without Landlock, on a kernel that lacks it,
where the uid drop and the file permissions the parent proved keep the files), sets ``sys.path``
to the stage, the standard library and numpy's directory and the import machinery to the
standard finders, and only then imports student code.
"""

import os
import sys


def _drop_privileges(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid:
        raise SystemExit("worker: could not drop privileges")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise SystemExit("worker: privileges were not dropped")


def _parse_args(argv):
    args = {"stage": None, "io": None, "out": None, "drop_uid": None, "syspath": [], "probe": False,
            "contain": False, "seccomp_only": False}
    it = iter(argv)
    for arg in it:
        if arg == "--stage":
            args["stage"] = next(it)
        elif arg == "--io":
            args["io"] = next(it)
        elif arg == "--out":
            args["out"] = next(it)
        elif arg == "--drop-uid":
            args["drop_uid"] = int(next(it))
        elif arg == "--syspath":
            args["syspath"].append(next(it))
        elif arg == "--probe":
            args["probe"] = True
        elif arg == "--contain":
            args["contain"] = True
        elif arg == "--seccomp-only":
            args["seccomp_only"] = True
        else:
            raise SystemExit(f"worker: unknown argument {arg!r}")
    if not args["stage"] or not args["io"]:
        raise SystemExit("worker: --stage and --io are required")
    if args["out"] is None:
        args["out"] = os.path.join(args["io"], "out")
    return args


# Modules a student's code may import: the parent's probe checks that the worker can still
# import them after dropping its uid (the interpreter may live where that uid cannot read).
PROBE_MODULES = ("math", "cmath", "itertools", "functools", "collections", "copy", "random", "re", "time",
                 "typing", "dataclasses", "warnings", "operator", "heapq", "bisect", "string", "decimal",
                 "fractions", "statistics", "textwrap", "pickle", "io", "json", "zipfile", "encodings.cp437")


def _probe_imports():
    import importlib

    import numpy

    failed = []
    if not os.access(os.path.join(os.path.dirname(numpy.__file__), "__init__.py"), os.R_OK):
        failed.append("numpy (its files are unreadable)")
    for name in PROBE_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001
            failed.append(f"{name} ({type(exc).__name__})")
    if failed:
        print("worker: cannot import " + ", ".join(failed), file=sys.stderr)
        sys.stderr.flush()
        os._exit(3)


# ----------------------------------------------------------------------------------------------
# Recipes: how each kind of case calls the submission. Each takes (arrays, params) and returns
# a dict of outputs. Arrays are fresh copies; "after_<name>" echoes an input after the call,
# so that the parent can see whether the call modified it.
# ----------------------------------------------------------------------------------------------


def _layers():
    import assignment.layers as layers

    return layers


def _echo(out, arrays, *names):
    for name in names:
        out[f"after_{name}"] = arrays[name]
    return out


def _layer_forward(a, p):
    """Call the forward of one row of the operation table (``assignment.registry``), as the parent planned it.

    ``p``: ``forward`` and ``backward``, the naive functions' names; ``arrays``, the names of their
    array arguments in order; ``param``, the op's parameter dict or None.
    """
    args = [a[name] for name in p["arrays"]]
    if p.get("param") is not None:
        args.append(dict(p["param"]))
    return getattr(_layers(), p["forward"])(*args)


def r_layer_forward(a, p):
    out, _ = _layer_forward(a, p)
    return _echo({"out": out}, a, *p["arrays"])


def r_layer_backward(a, p):
    _, cache = _layer_forward(a, p)
    grads = getattr(_layers(), p["backward"])(a["dout"], cache)
    if len(p["arrays"]) == 1:
        grads = (grads,)
    return _echo({f"d{name}": g for name, g in zip(p["arrays"], grads, strict=True)}, a, "dout")


def r_layer_loss(a, p):
    """A loss row of the operation table: ``loss, dx = forward(x, y)``."""
    loss, dx = getattr(_layers(), p["forward"])(a["x"], a["y"])
    return _echo({"loss": loss, "dx": dx}, a, "x")


def r_svm_loss(a, p):
    loss, dx = _layers().svm_loss(a["x"], a["y"])
    return _echo({"loss": loss, "dx": dx}, a, "x")


def r_softmax_loss(a, p):
    loss, dx = _layers().softmax_loss(a["x"], a["y"])
    return _echo({"loss": loss, "dx": dx}, a, "x")


def _bn_param(a, p, running=True):
    bn_param = {k: p[k] for k in ("mode", "eps", "momentum") if k in p}
    if running and "running_mean" in a:
        bn_param["running_mean"] = a["running_mean"].copy()
        bn_param["running_var"] = a["running_var"].copy()
    return bn_param


def _bn_forward(fn, a, p):
    bn_param = _bn_param(a, p)
    out, cache = fn(a["x"], a["gamma"], a["beta"], bn_param)
    return out, cache, bn_param


def r_batchnorm_forward(a, p):
    out, _, bn_param = _bn_forward(_layers().batchnorm_forward, a, p)
    result = {"out": out}
    if p["mode"] == "train":
        result["running_mean"] = bn_param["running_mean"]
        result["running_var"] = bn_param["running_var"]
    return _echo(result, a, "x")


def _bn_backward(backward_name, a, p):
    L = _layers()
    _, cache, _ = _bn_forward(L.batchnorm_forward, a, p)
    dx, dgamma, dbeta = getattr(L, backward_name)(a["dout"], cache)
    return _echo({"dx": dx, "dgamma": dgamma, "dbeta": dbeta}, a, "dout")


def r_batchnorm_backward(a, p):
    return _bn_backward("batchnorm_backward", a, p)


def r_batchnorm_backward_alt(a, p):
    return _bn_backward("batchnorm_backward_alt", a, p)


def _ln_param(p):
    return {k: p[k] for k in ("eps",) if k in p}


def r_layernorm_forward(a, p):
    out, _ = _layers().layernorm_forward(a["x"], a["gamma"], a["beta"], _ln_param(p))
    return _echo({"out": out}, a, "x")


def r_layernorm_backward(a, p):
    L = _layers()
    _, cache = L.layernorm_forward(a["x"], a["gamma"], a["beta"], _ln_param(p))
    dx, dgamma, dbeta = L.layernorm_backward(a["dout"], cache)
    return _echo({"dx": dx, "dgamma": dgamma, "dbeta": dbeta}, a, "dout")


def r_spatial_batchnorm_forward(a, p):
    out, _, bn_param = _bn_forward(_layers().spatial_batchnorm_forward, a, p)
    result = {"out": out}
    if p["mode"] == "train":
        result["running_mean"] = bn_param["running_mean"]
        result["running_var"] = bn_param["running_var"]
    return _echo(result, a, "x")


def r_spatial_batchnorm_backward(a, p):
    L = _layers()
    _, cache, _ = _bn_forward(L.spatial_batchnorm_forward, a, p)
    dx, dgamma, dbeta = L.spatial_batchnorm_backward(a["dout"], cache)
    return _echo({"dx": dx, "dgamma": dgamma, "dbeta": dbeta}, a, "dout")


def _gn(a, p):
    return _layers().spatial_groupnorm_forward(a["x"], a["gamma"], a["beta"], int(p["G"]), _ln_param(p))


def r_spatial_groupnorm_forward(a, p):
    out, _ = _gn(a, p)
    return _echo({"out": out}, a, "x")


def r_spatial_groupnorm_backward(a, p):
    _, cache = _gn(a, p)
    dx, dgamma, dbeta = _layers().spatial_groupnorm_backward(a["dout"], cache)
    return _echo({"dx": dx, "dgamma": dgamma, "dbeta": dbeta}, a, "dout")


def _dropout_param(a, p):
    param = {"p": p["p"], "mode": p["mode"], "seed": int(a["seed"])}
    if "kind" in p:
        param["kind"] = p["kind"]
    return param


def r_dropout_forward(a, p):
    out, _ = _layers().dropout_forward(a["x"], _dropout_param(a, p))
    return _echo({"out": out}, a, "x")


def r_dropout_backward(a, p):
    L = _layers()
    _, cache = L.dropout_forward(a["x"], _dropout_param(a, p))
    return _echo({"dx": L.dropout_backward(a["dout"], cache)}, a, "dout")


def r_update_rule(a, p):
    import numpy as np

    import assignment.optim as optim

    rule = getattr(optim, p["rule"])
    config = dict(p["config"])
    for key in p["state_keys"]:
        if f"state_{key}" in a:
            config[key] = a[f"state_{key}"].copy()
    if p.get("t") is not None:
        config["t"] = int(p["t"])
    w = a["w"]
    steps = []
    for dw in a["dw"]:
        w, config = rule(w, dw.copy(), config)
        steps.append(np.array(w, dtype=np.float64, copy=True))
    out = {"w_steps": np.stack(steps)}
    for key in p["state_keys"]:
        out[f"state_{key}"] = config[key]
    if p["rule"] == "adam":
        out["t"] = float(config["t"])
    return out


def _build_model(a, p):
    import numpy as np

    params = {k[len("param_"):]: v for k, v in a.items() if k.startswith("param_")}
    seed = int(a["dropout_seed"])
    name = p["model"]
    if name == "TwoLayerNet":
        from assignment.classifiers.fc_net import TwoLayerNet

        D, H = params["W1"].shape
        model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=params["W2"].shape[1], reg=p["reg"],
                            dtype=np.float64, seed=seed, backend="naive")
    elif name == "FullyConnectedNet":
        from assignment.classifiers.fc_net import FullyConnectedNet

        layers = sorted(int(k[1:]) for k in params if k.startswith("W"))
        hidden = [params[f"W{i}"].shape[1] for i in layers[:-1]]
        classes = params[f"W{layers[-1]}"].shape[1]
        model = FullyConnectedNet(hidden, input_dim=params["W1"].shape[0], num_classes=classes,
                                  dropout_keep_ratio=p["keep"], normalization=p["normalization"], reg=p["reg"],
                                  dtype=np.float64, seed=seed, backend="naive")
    elif name == "ThreeLayerConvNet":
        from assignment.classifiers.cnn import ThreeLayerConvNet

        F, C, k, _ = params["W1"].shape
        model = ThreeLayerConvNet(input_dim=tuple(a["X"].shape[1:]), num_filters=F, filter_size=k,
                                  hidden_dim=params["W3"].shape[0], num_classes=params["W3"].shape[1], reg=p["reg"],
                                  dtype=np.float64, seed=seed, backend="naive")
    elif name == "DeepConvNet":
        from assignment.classifiers.cnn import DeepConvNet

        model = DeepConvNet(input_dim=tuple(a["X"].shape[1:]), hidden_dim=params["W8"].shape[0],
                            num_classes=params["W8"].shape[1], dropout_keep_ratio=p["keep"], reg=p["reg"],
                            dtype=np.float64, seed=seed, backend="naive")
        model.dropout_param["seed"] = seed
    else:
        raise ValueError(f"unknown model {name!r}")
    model.params = {k: v.copy() for k, v in params.items()}
    return model


def r_model_loss(a, p):
    model = _build_model(a, p)
    loss, grads = model.loss(a["X"].copy(), a["y"].copy())
    out = {"loss": loss}
    for name, grad in grads.items():
        out[f"grad_{name}"] = grad
    out["scores"] = model.loss(a["X"].copy())
    return out


def _linear(a, p):
    import numpy as np

    from assignment.classifiers import linear

    cls = {"LinearSVM": linear.LinearSVM, "Softmax": linear.Softmax}[p["cls"]]
    model = cls(reg=p["reg"], reg_type=p["reg_type"], dtype=np.float64, seed=0)
    model.params = {"W": a["W"].copy(), "b": a["b"].copy()}
    return model


def r_linear_loss(a, p):
    model = _linear(a, p)
    scores = model.loss(a["X"].copy())
    loss, grads = model.loss(a["X"].copy(), a["y"].copy())
    return {"scores": scores, "loss": loss, "grad_W": grads["W"], "grad_b": grads["b"]}


def r_linear_train(a, p):
    model = _linear(a, p)
    N = a["X"].shape[0]
    # The whole training set as every minibatch: the loss and the step do not depend on the order
    # in which a correct implementation samples it.
    history = model.train(a["X"].copy(), a["y"].copy(), learning_rate=p["learning_rate"], num_iters=p["num_iters"],
                          batch_size=N, seed=0)
    return {"loss_history": list(history), "W": model.params["W"], "b": model.params["b"]}


RECIPES = {
    "layer_forward": r_layer_forward, "layer_backward": r_layer_backward, "layer_loss": r_layer_loss,
    "svm_loss": r_svm_loss, "softmax_loss": r_softmax_loss,
    "batchnorm_forward": r_batchnorm_forward, "batchnorm_backward": r_batchnorm_backward,
    "batchnorm_backward_alt": r_batchnorm_backward_alt,
    "layernorm_forward": r_layernorm_forward, "layernorm_backward": r_layernorm_backward,
    "spatial_batchnorm_forward": r_spatial_batchnorm_forward,
    "spatial_batchnorm_backward": r_spatial_batchnorm_backward,
    "spatial_groupnorm_forward": r_spatial_groupnorm_forward,
    "spatial_groupnorm_backward": r_spatial_groupnorm_backward,
    "dropout_forward": r_dropout_forward, "dropout_backward": r_dropout_backward,
    "update_rule": r_update_rule, "model_loss": r_model_loss,
    "linear_loss": r_linear_loss, "linear_train": r_linear_train,
}


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------

MAX_MESSAGE = 4000


def _as_array(np, value):
    """A plain numeric ndarray copy of a returned value, or a ValueError saying what came back."""
    if isinstance(value, (bool, int, float, np.generic, list, tuple)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise ValueError(f"returned a {type(value).__name__}, not a numpy array or a number")
    if value.dtype.kind not in "fiub":
        raise ValueError(f"returned an array of dtype {value.dtype}, not numbers")
    return np.array(value, dtype=value.dtype, copy=True, subok=False, order="C")


_STAGE = ""  # the stage's path, set by main: tracebacks show the student's files only, relative to it


def _describe(exc):
    """The exception in a few lines, with the frames of the student's own files only (paths relative to the stage)."""
    import traceback

    try:
        head = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - an exception whose str() raises
        head = type(exc).__name__
    try:
        prefix = _STAGE.rstrip("/") + "/"
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(prefix)]
        for f in frames:
            f.filename = f.filename[len(prefix):]
        tail = "".join(traceback.format_list(frames[-5:]))
        if tail:
            tail = "Traceback (your files only, most recent call last):\n" + tail
    except BaseException:  # noqa: BLE001
        tail = ""
    text = head[:1000] + "\n" + tail[-(MAX_MESSAGE - 1000):]
    return text[:MAX_MESSAGE]


def _save(np, out_dir, results):
    tmp = os.path.join(out_dir, ".outputs.tmp.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **results)
    os.replace(tmp, os.path.join(out_dir, "outputs.npz"))


class _Progress:
    """``OUT/progress``: the index of the case being run, rewritten in place (fixed width)."""

    def __init__(self, out_dir):
        self.fd = os.open(os.path.join(out_dir, "progress"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def set(self, index):
        os.pwrite(self.fd, b"%10d\n" % index, 0)


SAVE_EVERY = 0.2  # seconds: outputs are rewritten at most this often, and at the end


def _load_contain():
    """``contain.py`` from the worker's own directory (the worker runs without the grader's package)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contain.py")
    spec = importlib.util.spec_from_file_location("_grader_contain", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _contain(contain, np, stage, out_dir, landlock=True):
    """Landlock + seccomp on this process: read the interpreter, numpy and the stage; write ``out_dir`` only.

    ``landlock=False``: seccomp alone (no new process, no signal to another, no socket but AF_UNIX).
    """
    if not landlock:
        contain.apply(read=[], write=[], landlock=False)
        return
    numpy_dir = os.path.dirname(os.path.abspath(np.__file__))
    read = [p for p in sys.path if p and os.path.isabs(p)]
    read += [numpy_dir, numpy_dir + ".libs", os.path.realpath(sys.executable), sys.executable, stage,
             "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/etc/ld.so.cache",
             "/dev/null", "/dev/zero", "/dev/urandom"]
    # What this uid cannot read anyway needs no rule (and Landlock could not open it to make one).
    read = [p for p in dict.fromkeys(read) if os.access(p, os.R_OK)]
    contain.apply(read=read, write=[out_dir])


def _standard_imports(stage, keep):
    """``sys.path``: the stage, the standard library, ``keep`` (numpy's directory); only the standard finders."""
    import importlib.machinery

    stdlib = [p for p in sys.path if p and p not in keep]
    sys.path[:] = [stage, *stdlib, *keep]
    standard = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter,
                importlib.machinery.PathFinder)
    sys.meta_path[:] = [f for f in sys.meta_path if f in standard or isinstance(f, standard)]
    sys.path_importer_cache.clear()


def main(argv):
    global _STAGE
    args = _parse_args(argv)
    for path in args["syspath"]:
        if path not in sys.path:
            sys.path.append(path)
    # Everything the worker itself needs is imported first (trusted code, from the grader's
    # interpreter), then the privileges go, then the walls go up, then the student's code comes in.
    import importlib
    import json
    import time
    import traceback  # noqa: F401 - used by _describe after the walls are up
    import zipfile  # noqa: F401 - used by np.savez after the walls are up

    import numpy as np
    import numpy.lib.format  # noqa: F401

    contain = None
    if args["contain"]:
        import pyseccomp  # noqa: F401 - loaded (with libseccomp) while the worker may still read it

        contain = _load_contain()

    with open(os.path.join(args["io"], "plan.json")) as f:
        plan = json.load(f)
    with np.load(os.path.join(args["io"], "inputs.npz"), allow_pickle=False) as data:
        inputs = {key: data[key] for key in data.files}
    out_dir = args["out"]
    progress = _Progress(out_dir)
    if args["drop_uid"] is not None:
        _drop_privileges(args["drop_uid"])
    if args["contain"]:
        try:
            _contain(contain, np, args["stage"], out_dir, landlock=not args["seccomp_only"])
        except Exception as exc:  # noqa: BLE001 - no containment, no student code
            print(f"worker: containment failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(4)
    _STAGE = args["stage"]
    _standard_imports(args["stage"], list(args["syspath"]))
    if args["probe"]:
        _probe_imports()
    results = {}
    # Each student module once, before the cases: a syntax or import error is reported once, by module.
    for index, name in enumerate(plan.get("modules", [])):
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001
            results[f"__module__.{index}"] = np.array(_describe(exc))
    last_save = time.monotonic()
    for index, case in enumerate(plan["cases"]):
        progress.set(index)
        cid = case["id"]
        prefix = f"{cid}."
        arrays = {key[len(prefix):]: value.copy() for key, value in inputs.items() if key.startswith(prefix)}
        try:
            recipe = RECIPES[case["recipe"]]
            outs = recipe(arrays, case["params"])
            converted = {}
            for name, value in outs.items():
                try:
                    converted[f"{cid}.{name}"] = _as_array(np, value)
                except ValueError as exc:
                    raise ValueError(f"output {name!r} {exc}") from None
            results.update(converted)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from student code too
            results[f"{cid}.__error__"] = np.array(_describe(exc))
        if time.monotonic() - last_save > SAVE_EVERY:
            _save(np, out_dir, results)
            last_save = time.monotonic()
    results["__done__"] = np.array(1)
    _save(np, out_dir, results)
    for stream in (sys.__stdout__, sys.__stderr__):  # the real streams: student code may have replaced sys.stdout
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(0)  # no atexit handler, finalizer or leftover thread of student code runs after this


if __name__ == "__main__":
    main(sys.argv[1:])
