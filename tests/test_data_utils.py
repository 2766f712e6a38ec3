"""Data loaders: IDX, CIFAR-10 and MNIST-pickle files built here in tmp_path, and the embedded subset."""

import gzip
import importlib.util
import os
import pickle
import shlex
import struct
import subprocess
import sys
import time
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assignment import data_utils

REPO = Path(__file__).resolve().parents[1]
IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr, code=None):
    """The IDX encoding of arr: 0, 0, type code, ndim, big-endian uint32 dims, big-endian payload."""
    arr = np.asarray(arr)
    code = IDX_CODES[arr.dtype.type] if code is None else code
    header = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path, arr, gz=False, raw=None):
    data = idx_bytes(arr) if raw is None else raw
    Path(path).write_bytes(gzip.compress(data) if gz else data)
    return Path(path)


def make_mnist_dir(root, n_train=12, n_test=5, gz=True, seed=0):
    """A tiny MNIST-layout folder; returns the arrays written."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {}
    for kind, n in (("train", n_train), ("t10k", n_test)):
        X = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(root / f"{kind}-images-idx3-ubyte{suffix}", X, gz=gz)
        write_idx(root / f"{kind}-labels-idx1-ubyte{suffix}", y, gz=gz)
        arrays[kind] = (X, y)
    return arrays


# ----------------------------------------------------------------------------------------------
# IDX
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("dtype", list(IDX_CODES), ids=lambda t: t.__name__)
def test_load_idx_roundtrip(tmp_path, dtype, gz):
    arr = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype)
    if dtype is np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    got = data_utils.load_idx(write_idx(tmp_path / "a.idx", arr, gz=gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


@settings(max_examples=30, deadline=None)
@given(arr=hnp.arrays(st.sampled_from([np.uint8, np.int16, np.float32]),
                      hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
       gz=st.booleans())
def test_load_idx_roundtrip_property(tmp_path_factory, arr, gz):
    path = write_idx(tmp_path_factory.mktemp("idx") / "x", arr, gz=gz)
    np.testing.assert_array_equal(data_utils.load_idx(path), arr)


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    np.testing.assert_array_equal(data_utils.load_idx(write_idx(tmp_path / "no-suffix", arr, gz=True)), arr)
    np.testing.assert_array_equal(data_utils.load_idx(write_idx(tmp_path / "lies.gz", arr, gz=False)), arr)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_corrupt_magic_is_named(tmp_path, gz):
    raw = bytearray(idx_bytes(np.zeros((2, 2), np.uint8)))
    raw[0] = 0x42
    path = write_idx(tmp_path / "bad-magic", None, gz=gz, raw=bytes(raw))
    with pytest.raises(ValueError, match="bad-magic.*magic"):
        data_utils.load_idx(path)


def test_unknown_type_code(tmp_path):
    raw = idx_bytes(np.zeros(3, np.uint8), code=0x07)
    with pytest.raises(ValueError, match="type code 0x07"):
        data_utils.load_idx(write_idx(tmp_path / "code", None, raw=raw))


def test_zero_dimensions(tmp_path):
    with pytest.raises(ValueError, match="0 dimensions"):
        data_utils.load_idx(write_idx(tmp_path / "nodims", None, raw=bytes([0, 0, 8, 0])))


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_truncated_payload(tmp_path, gz):
    raw = idx_bytes(np.ones((4, 5), np.int32))[:-3]
    path = write_idx(tmp_path / "short.idx", None, gz=gz, raw=raw)
    with pytest.raises(ValueError, match=r"short\.idx.*truncated"):
        data_utils.load_idx(path)


def test_truncated_header(tmp_path):
    path = write_idx(tmp_path / "hdr", None, raw=bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="hdr.*truncated"):
        data_utils.load_idx(path)


def test_truncated_gzip_stream(tmp_path):
    blob = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz"):
        data_utils.load_idx(path)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_trailing_data(tmp_path, gz):
    raw = idx_bytes(np.ones(4, np.uint8)) + b"extra"
    with pytest.raises(ValueError, match="trailing"):
        data_utils.load_idx(write_idx(tmp_path / "long", None, gz=gz, raw=raw))


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope-idx1-ubyte"):
        data_utils.load_idx(tmp_path / "nope-idx1-ubyte")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_idx(tmp_path, gz):
    arrays = make_mnist_dir(tmp_path, gz=gz)
    for kind in ("train", "t10k"):
        X, y = data_utils.load_mnist_idx(tmp_path, kind)
        assert X.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(X, arrays[kind][0])
        np.testing.assert_array_equal(y, arrays[kind][1])
    with pytest.raises(ValueError, match="kind"):
        data_utils.load_mnist_idx(tmp_path, "test")


def test_label_image_count_mismatch_names_both_files(tmp_path):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8), gz=True)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*12.*train-labels-idx1-ubyte\.gz.*11"):
        data_utils.load_mnist_idx(tmp_path, "train")


def test_labels_out_of_range(tmp_path):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 10], np.uint8), gz=True)
    with pytest.raises(ValueError, match="t10k-labels.*10"):
        data_utils.load_mnist_idx(tmp_path, "t10k")


def test_images_of_wrong_type(tmp_path):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.float32), gz=True)
    with pytest.raises(ValueError, match="t10k-images.*uint8"):
        data_utils.load_mnist_idx(tmp_path, "t10k")


def test_missing_idx_file(tmp_path):
    make_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        data_utils.load_fashion_mnist(tmp_path)


def test_fashion_mnist_root_from_environment(tmp_path, monkeypatch):
    arrays = make_mnist_dir(tmp_path / "fm")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "fm"))
    X_train, y_train, X_test, y_test = data_utils.load_fashion_mnist()
    np.testing.assert_array_equal(X_train, arrays["train"][0])
    assert X_test.shape == (5, 28, 28) and y_test.shape == (5,)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="absent"):
        data_utils.load_fashion_mnist()


def test_mnist_without_root_says_how(monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="MNIST_DIR"):
        data_utils.load_mnist()


def test_get_data_from_idx_files(tmp_path):
    arrays = make_mnist_dir(tmp_path, n_train=30, n_test=7)
    d = data_utils.get_data("mnist", root=tmp_path, num_validation=6, dtype=np.float64)
    assert d["X_train"].shape == (24, 1, 28, 28) and d["X_val"].shape == (6, 1, 28, 28)
    assert d["X_test"].shape == (7, 1, 28, 28) and d["X_train"].dtype == np.float64
    assert all(d[k].dtype == np.int64 for k in ("y_train", "y_val", "y_test"))
    X, y = arrays["train"]
    mean = X[:24].astype(np.float64).mean(axis=0) / 255  # the training images only
    np.testing.assert_allclose(d["X_val"][:, 0], X[24:] / 255 - mean, atol=1e-12)
    np.testing.assert_array_equal(d["y_val"], y[24:])
    np.testing.assert_allclose(d["X_train"].mean(axis=0), 0, atol=1e-12)
    # num_training keeps the validation set where it was
    d2 = data_utils.get_data("mnist", root=tmp_path, num_training=10, num_validation=6, subtract_mean=False,
                             flatten=True, channels_first=False)
    assert d2["X_train"].shape == (10, 784) and d2["X_val"].shape == (6, 784)
    np.testing.assert_allclose(d2["X_val"], X[24:].reshape(6, -1) / 255, atol=1e-7)
    with pytest.raises(ValueError, match="num_validation"):
        data_utils.get_data("mnist", root=tmp_path, num_validation=31)
    with pytest.raises(ValueError, match="source"):
        data_utils.get_data("imagenet")


# ----------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------

ROWS = 4


@pytest.fixture
def small_cifar(monkeypatch):
    """Batches of ROWS rows instead of 10000, so tests stay small."""
    monkeypatch.setattr(data_utils, "CIFAR10_BATCH_ROWS", ROWS)


def cifar_batch(rng, rows=ROWS):
    return {
        b"batch_label": b"testing batch",
        b"labels": [int(v) for v in rng.integers(0, 10, rows)],
        b"data": rng.integers(0, 256, size=(rows, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(rows)],
    }


def dump(obj, path, protocol=2, py2_names=False):
    blob = pickle.dumps(obj, protocol=protocol)
    if py2_names:  # the module name numpy 1.x (and the real CIFAR-10 files) use
        assert protocol <= 2
        blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    Path(path).write_bytes(blob)


@pytest.mark.parametrize("protocol,py2_names", [(2, True), (2, False), (4, False), (5, False)])
def test_cifar_batch_roundtrip(tmp_path, small_cifar, protocol, py2_names):
    batch = cifar_batch(np.random.default_rng(1))
    dump(batch, tmp_path / "data_batch_1", protocol, py2_names)
    X, y = data_utils.load_cifar_batch(tmp_path / "data_batch_1")
    assert X.shape == (ROWS, 32, 32, 3) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(y, batch[b"labels"])
    data = batch[b"data"]
    # row = 1024 red, 1024 green, 1024 blue values, each 32x32 row-major
    assert X[2, 5, 7, 0] == data[2, 5 * 32 + 7] and X[2, 5, 7, 2] == data[2, 2048 + 5 * 32 + 7]


def test_load_cifar10_and_get_data(tmp_path, small_cifar, monkeypatch):
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        dump(cifar_batch(rng), tmp_path / name)
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path))
    X_train, y_train, X_test, y_test = data_utils.load_cifar10()
    assert X_train.shape == (5 * ROWS, 32, 32, 3) and y_train.shape == (5 * ROWS,)
    assert X_test.shape == (ROWS, 32, 32, 3)
    d = data_utils.get_data("cifar10", num_validation=3)
    assert d["X_train"].shape == (17, 3, 32, 32) and d["X_val"].shape == (3, 3, 32, 32)
    assert d["X_test"].shape == (ROWS, 3, 32, 32) and d["X_train"].dtype == np.float32
    np.testing.assert_allclose(d["X_val"][1], X_train[18].transpose(2, 0, 1) / 255
                               - X_train[:17].mean(axis=0).transpose(2, 0, 1) / 255, atol=1e-5)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        data_utils.load_cifar10(tmp_path)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _EvalEvil:
    def __reduce__(self):
        return eval, ("__import__('os').getpid()",)


@pytest.mark.parametrize("protocol", [2, 5])
def test_malicious_cifar_batch_is_refused(tmp_path, small_cifar, protocol):
    marker = tmp_path / "pwned"
    batch = cifar_batch(np.random.default_rng(3))
    batch[b"data"] = _Evil(marker)
    dump(batch, tmp_path / "data_batch_1", protocol)
    with pytest.raises(ValueError, match=r"data_batch_1.*refused global (posix|os|nt)\.system"):
        data_utils.load_cifar_batch(tmp_path / "data_batch_1")
    assert not marker.exists()
    dump({b"data": _EvalEvil(), b"labels": []}, tmp_path / "b2", protocol)
    with pytest.raises(ValueError, match=r"refused global (__builtin__|builtins)\.eval"):
        data_utils.load_cifar_batch(tmp_path / "b2")


def test_cifar_object_array_is_refused(tmp_path, small_cifar):
    batch = cifar_batch(np.random.default_rng(4))
    batch[b"data"] = np.array([[1, "a"]] * ROWS, dtype=object)
    dump(batch, tmp_path / "objs")
    with pytest.raises(ValueError, match="objs"):
        data_utils.load_cifar_batch(tmp_path / "objs")


@pytest.mark.parametrize("change,match", [
    (lambda b: b.update({b"data": b[b"data"][:, :3000]}), r"\(4, 3072\)"),
    (lambda b: b.update({b"data": b[b"data"][:3]}), r"\(4, 3072\)"),
    (lambda b: b.update({b"data": b[b"data"].astype(np.float32)}), "uint8"),
    (lambda b: b.update({b"labels": b[b"labels"][:3]}), "labels"),
    (lambda b: b.update({b"labels": [0, 1, 2, 10]}), r"\[0, 10\)"),
    (lambda b: b.update({b"labels": [0, 1, 2, -1]}), r"\[0, 10\)"),
    (lambda b: b.pop(b"labels"), "labels"),
])
def test_cifar_batch_validation(tmp_path, small_cifar, change, match):
    batch = cifar_batch(np.random.default_rng(5))
    change(batch)
    dump(batch, tmp_path / "bad_batch")
    with pytest.raises(ValueError, match=f"bad_batch.*{match}"):
        data_utils.load_cifar_batch(tmp_path / "bad_batch")


def test_cifar_full_size_batch(tmp_path):
    """The real row count (10000) without monkeypatching, written once."""
    rng = np.random.default_rng(6)
    dump(cifar_batch(rng, rows=10000), tmp_path / "test_batch", py2_names=True)
    X, y = data_utils.load_cifar_batch(tmp_path / "test_batch")
    assert X.shape == (10000, 32, 32, 3) and y.shape == (10000,)
    dump(cifar_batch(rng, rows=20), tmp_path / "small")
    with pytest.raises(ValueError, match=r"small.*\(10000, 3072\)"):
        data_utils.load_cifar_batch(tmp_path / "small")


def test_cifar_garbage_and_missing(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x80\x02not a pickle at all")
    with pytest.raises(ValueError, match="junk"):
        data_utils.load_cifar_batch(tmp_path / "junk")
    with pytest.raises(FileNotFoundError, match="absent_batch"):
        data_utils.load_cifar_batch(tmp_path / "absent_batch")


# ----------------------------------------------------------------------------------------------
# MNIST as one pickle (Nielsen's mnist.pkl.gz)
# ----------------------------------------------------------------------------------------------


def mnist_pkl_data(seed=0, sizes=(7, 3, 4), x_dtype=np.float32, y_dtype=np.int64):
    """A small (train, valid, test) tuple in the layout of Nielsen's mnist.pkl.gz."""
    rng = np.random.default_rng(seed)
    return tuple(
        (rng.random((n, 784)).astype(x_dtype), rng.integers(0, 10, n).astype(y_dtype)) for n in sizes
    )


def write_pkl(path, obj, protocol=2, gz=True, raw=None):
    """Pickle obj (or take raw pickle bytes) and write it, gzipped like mnist.pkl.gz or not."""
    blob = pickle.dumps(obj, protocol=protocol) if raw is None else raw
    Path(path).write_bytes(gzip.compress(blob) if gz else blob)
    return Path(path)


def py2_array_pickle(arr):
    """The protocol-2 opcodes Python 2's cPickle writes for arr (numpy 1.x names, str raw data).

    numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b'), then BUILD with
    (1, shape, dtype, is_fortran, rawdata) where dtype = numpy.dtype('f4', 0, 1) built with
    (3, '<', None, None, None, -1, -1, 0); strings are Python 2 str (BINSTRING).
    """
    def binint(v):
        return b"J" + struct.pack("<i", v)

    def binstring(b):
        return b"T" + struct.pack("<I", len(b)) + b

    arr = np.ascontiguousarray(arr)
    dtype = (b"cnumpy\ndtype\n" + binstring(arr.dtype.str[1:].encode()) + binint(0) + binint(1) + b"\x87R"
             + b"(" + binint(3) + binstring(arr.dtype.str[:1].encode()) + b"NNN" + binint(-1) + binint(-1)
             + binint(0) + b"tb")
    shape = b"(" + b"".join(binint(s) for s in arr.shape) + b"t"
    return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + binint(0) + b"\x85"
            + binstring(b"b") + b"\x87R" + b"(" + binint(1) + shape + dtype + b"\x89"
            + binstring(arr.tobytes()) + b"tb")


def py2_mnist_pickle(data):
    body = b"".join(b"(" + py2_array_pickle(X) + py2_array_pickle(y) + b"t" for X, y in data)
    return b"\x80\x02(" + body + b"t."


def assert_mnist_equal(got, data):
    assert isinstance(got, tuple) and len(got) == 3
    for (X, y), (X0, y0) in zip(got, data, strict=True):
        assert X.dtype == np.float32 and y.dtype == np.int64
        assert X.shape == (len(y0), 784) and y.shape == (len(y0),)
        np.testing.assert_array_equal(X, X0.astype(np.float32))
        np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_mnist_pkl_roundtrip(tmp_path, protocol, gz):
    data = mnist_pkl_data()
    got = data_utils.load_mnist_pkl(write_pkl(tmp_path / "mnist.pkl.gz", data, protocol, gz))
    assert_mnist_equal(got, data)
    assert all(X.flags.writeable and y.flags.writeable for X, y in got)


def test_mnist_pkl_python2_cpickle_layout(tmp_path):
    """The opcodes Python 2 wrote the original file with: numpy.core names, str array data."""
    data = mnist_pkl_data(seed=1)
    data[0][0][0, :3] = [0.0, 1.0, 0.5]
    raw = py2_mnist_pickle(data)
    assert b"numpy.core.multiarray" in raw and b"_codecs" not in raw
    assert_mnist_equal(pickle.loads(raw, encoding="latin1"), data)  # the opcodes are right...
    assert_mnist_equal(data_utils.load_mnist_pkl(write_pkl(tmp_path / "mnist.pkl.gz", None, raw=raw)), data)


@pytest.mark.parametrize("protocol", [2, 5])
def test_mnist_pkl_other_dtypes_and_layouts(tmp_path, protocol):
    """float64 X is cast to float32, int32 / uint8 / big-endian y to int64, Fortran order kept."""
    data = mnist_pkl_data(seed=2, x_dtype=np.float64, y_dtype=np.int32)
    data = (data[0], (np.asfortranarray(data[1][0]), data[1][1].astype(np.uint8)),
            (data[2][0].astype(">f4"), data[2][1].astype(">i8")))
    got = data_utils.load_mnist_pkl(write_pkl(tmp_path / "m.pkl", data, protocol))
    assert_mnist_equal(got, data)
    empty = ((np.zeros((0, 784), np.float32), np.zeros(0, np.int64)),) * 3
    got = data_utils.load_mnist_pkl(write_pkl(tmp_path / "empty.pkl", empty, protocol))
    assert [X.shape for X, _ in got] == [(0, 784)] * 3


def test_mnist_pkl_gzip_detected_by_content_not_name(tmp_path):
    data = mnist_pkl_data(seed=3, sizes=(2, 2, 2))
    assert_mnist_equal(data_utils.load_mnist_pkl(write_pkl(tmp_path / "lies.gz", data, gz=False)), data)
    assert_mnist_equal(data_utils.load_mnist_pkl(write_pkl(tmp_path / "no-suffix", data, gz=True)), data)


class _SystemPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


class _EvalPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"__import__('pathlib').Path({str(self.marker)!r}).touch()",)


class _PopenPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return subprocess.Popen, ([sys.executable, "-c", f"open({str(self.marker)!r}, 'w').close()"],)


HOSTILE = {
    "os.system": (_SystemPayload, r"(posix|os|nt)\.system"),
    "builtins.eval": (_EvalPayload, r"(__builtin__|builtins)\.eval"),
    "subprocess.Popen": (_PopenPayload, r"(subprocess|commands)\.Popen"),  # commands: protocol <= 2
}


def _run_plainly(blob):
    """What plain pickle.load would do with the file: run the payload (waited for)."""
    obj = pickle.loads(blob)
    popen = obj[1][0]
    if isinstance(popen, subprocess.Popen):
        popen.wait(timeout=60)


@pytest.mark.parametrize("protocol", [0, 2, 5])
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_mnist_pkl_hostile_payload_is_refused_and_never_runs(tmp_path, kind, protocol):
    payload, name = HOSTILE[kind]
    data = list(mnist_pkl_data(seed=4, sizes=(2, 2, 2)))
    # The payload sits where the validation images belong, inside an otherwise valid file.
    data[1] = (payload(tmp_path / "control"), data[1][1])
    blob = pickle.dumps(tuple(data), protocol=protocol)
    # Control: the payload is live, so plain pickle.load would run it.
    _run_plainly(blob.replace(b"control", b"CONTROL"))
    assert (tmp_path / "CONTROL").exists()

    path = write_pkl(tmp_path / "mnist.pkl.gz", None, raw=blob)
    with pytest.raises(ValueError, match=rf"mnist\.pkl\.gz.*refused global {name}"):
        data_utils.load_mnist_pkl(path)
    with pytest.raises(ValueError, match=rf"plain\.pkl.*refused global {name}"):
        data_utils.load_mnist_pkl(write_pkl(tmp_path / "plain.pkl", None, raw=blob, gz=False))
    time.sleep(0.2)  # a Popen that had started would have written its marker by now
    assert not (tmp_path / "control").exists()


@pytest.mark.parametrize("global_name", [
    b"os\nsystem", b"builtins\nexec", b"subprocess\nPopen", b"__builtin__\neval", b"numpy\nload",
    b"numpy.testing._private.utils\nrunstring",
    b"numpy.core.multiarray\nscalar", b"numpy._core.multiarray\n_reconstruct_evil", b"pickle\nloads",
])
def test_mnist_pkl_hand_written_globals_are_refused(tmp_path, global_name):
    """Protocol 0 opcodes naming a callable (numpy's own runstring and load included) and calling it."""
    marker = tmp_path / "pwned"
    raw = b"c" + global_name + b"\n(V" + f"touch {marker}".encode() + b"\ntR."
    with pytest.raises(ValueError, match=r"evil\.pkl.*refused global"):
        data_utils.load_mnist_pkl(write_pkl(tmp_path / "evil.pkl", None, raw=raw))
    assert not marker.exists()


def test_mnist_pkl_standins_cannot_be_rewritten(tmp_path):
    """BUILD on an allowed name (to change _frombuffer's default order for later files) is refused."""
    raw = b"cnumpy._core.numeric\n_frombuffer\n(N(V__defaults__\n(VF\ntdtb."
    with pytest.raises(ValueError, match=r"poison\.pkl.*refused to set state on global numpy\._core\.numeric\._fromb"):
        data_utils.load_mnist_pkl(write_pkl(tmp_path / "poison.pkl", None, raw=raw))
    raw = b"cnumpy\ndtype\n(N(Vname\nVO\ndtb."
    with pytest.raises(ValueError, match=r"poison2\.pkl.*refused to set state on global numpy\.dtype"):
        data_utils.load_mnist_pkl(write_pkl(tmp_path / "poison2.pkl", None, raw=raw))
    raw = b"c__builtin__\nbytes\n(J\x00\x00\x00\x10tR."  # only bytes() (protocol 2's b"") is allowed
    with pytest.raises(ValueError, match=r"bytes\.pkl.*only bytes\(\) with no arguments"):
        data_utils.load_mnist_pkl(write_pkl(tmp_path / "bytes.pkl", None, raw=raw))
    data = mnist_pkl_data(seed=5, sizes=(3, 2, 2))  # non-square C-order arrays still read right
    assert_mnist_equal(data_utils.load_mnist_pkl(write_pkl(tmp_path / "ok.pkl", data, protocol=5)), data)


@pytest.mark.parametrize("protocol", [2, 5])
def test_mnist_pkl_object_array_is_refused(tmp_path, protocol):
    data = list(mnist_pkl_data(seed=6, sizes=(2, 2, 2)))
    data[2] = (np.array([[0.5] * 784] * 2, dtype=object), data[2][1])
    path = write_pkl(tmp_path / "objs.pkl.gz", tuple(data), protocol)
    with pytest.raises(ValueError, match=r"objs\.pkl\.gz.*test: X.*refusing array dtype 'O"):
        data_utils.load_mnist_pkl(path)


def _set(split, i, value):
    def change(data):
        data = [list(p) for p in data]
        data[split][i] = value(data[split][i])
        return tuple(tuple(p) for p in data)
    return change


@pytest.mark.parametrize("change,match", [
    (lambda d: {"train": d[0], "valid": d[1], "test": d[2]}, r"expected a tuple .*got a dict"),
    (lambda d: d[:2], r"expected a tuple .*got a tuple of length 2"),
    (lambda d: d[0][0], r"expected a tuple .*got a numpy array"),
    (lambda d: (d[0], d[1], d[2] + (d[2][1],)), r"test: expected a pair \(X, y\), got a tuple of length 3"),
    (lambda d: (d[0], d[1], "test"), r"test: expected a pair \(X, y\), got a str"),
    (_set(1, 0, lambda X: X[:, :783]), r"valid: X has shape \(3, 783\), expected \(N, 784\)"),
    (_set(1, 0, lambda X: X.reshape(-1)), r"valid: X has shape \(2352,\)"),
    (_set(0, 0, lambda X: (X * 255).astype(np.uint8)), r"train: X has dtype uint8, expected a float dtype"),
    (_set(0, 0, lambda X: X.tolist()), r"train: X must be a numpy array, got a list"),
    (_set(0, 0, lambda X: X.astype(np.complex64)), r"train: X: refusing array dtype 'c8'"),
    (_set(0, 0, lambda X: X * 255), r"train: X must hold finite pixel values in \[0, 1\]"),
    (_set(0, 0, lambda X: np.where(X > 0.5, np.nan, X)), r"train: X must hold finite pixel values"),
    (_set(2, 1, lambda y: y.astype(np.float32)), r"test: y has dtype float32 .*expected integer labels"),
    (_set(2, 1, lambda y: y.astype(bool)), r"test: y has dtype bool"),
    (_set(2, 1, lambda y: y[:, None]), r"test: y has dtype int64 and shape \(4, 1\)"),
    (_set(2, 1, lambda y: y.tolist()), r"test: y must be a numpy array, got a list"),
    (_set(2, 1, lambda y: np.r_[y[:-1], 10]), r"test: labels must lie in \[0, 10\), found \[\d, 10\]"),
    (_set(2, 1, lambda y: np.r_[y[:-1], -1]), r"test: labels must lie in \[0, 10\), found \[-1, \d\]"),
    (_set(1, 1, lambda y: y[:-1]), r"valid: X holds 3 images but y holds 2 labels"),
])
@pytest.mark.parametrize("protocol", [2, 5])
def test_mnist_pkl_validation(tmp_path, change, match, protocol):
    path = write_pkl(tmp_path / "bad.pkl.gz", change(mnist_pkl_data(seed=7)), protocol)
    with pytest.raises(ValueError, match=rf"bad\.pkl\.gz: {match}"):
        data_utils.load_mnist_pkl(path)


def test_mnist_pkl_malformed_array_state(tmp_path):
    """Arrays whose recorded shape, dtype or data disagree are a ValueError naming the split."""
    X = np.zeros((2, 784), np.float32)
    good = py2_array_pickle(X)
    y = py2_array_pickle(np.zeros(2, np.int64))
    cases = {
        "short": (good.replace(struct.pack("<I", X.nbytes), struct.pack("<I", X.nbytes - 4))
                  .replace(X.tobytes(), X.tobytes()[:-4]),
                  r"array of shape \(2, 784\) and dtype float32 does not match its 6268 bytes"),
        "dtype": (good.replace(b"T\x02\x00\x00\x00f4", b"T\x02\x00\x00\x00zz"), "unknown array dtype 'zz'"),
        "shape": (good.replace(b"(J\x02\x00\x00\x00J\x10\x03\x00\x00t", b"(J\xfe\xff\xff\xffJ\x10\x03\x00\x00t"),
                  "array shape must be a tuple of non-negative integers"),
    }
    for name, (arr, msg) in cases.items():
        assert arr != good, name
        raw = b"\x80\x02(" + (b"(" + arr + y + b"t") * 3 + b"t."
        with pytest.raises(ValueError, match=rf"{name}\.pkl: train: X: {msg}"):
            data_utils.load_mnist_pkl(write_pkl(tmp_path / f"{name}.pkl", None, raw=raw))


def test_mnist_pkl_truncated_and_corrupt(tmp_path):
    blob = gzip.compress(pickle.dumps(mnist_pkl_data(seed=8), protocol=2))
    (tmp_path / "half.pkl.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"half\.pkl\.gz: not a valid MNIST pickle"):
        data_utils.load_mnist_pkl(tmp_path / "half.pkl.gz")
    # Only the gzip trailer (CRC32, size) cut: the pickle itself is whole, the file is not.
    (tmp_path / "notrailer.pkl.gz").write_bytes(blob[:-8])
    with pytest.raises(ValueError, match=r"notrailer\.pkl\.gz: not a valid MNIST pickle"):
        data_utils.load_mnist_pkl(tmp_path / "notrailer.pkl.gz")
    flipped = bytearray(blob)
    flipped[-6] ^= 0xFF  # a wrong CRC32
    (tmp_path / "crc.pkl.gz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"crc\.pkl\.gz"):
        data_utils.load_mnist_pkl(tmp_path / "crc.pkl.gz")
    raw = pickle.dumps(mnist_pkl_data(seed=8), protocol=2)
    with pytest.raises(ValueError, match=r"cut\.pkl: not a valid MNIST pickle"):
        data_utils.load_mnist_pkl(write_pkl(tmp_path / "cut.pkl", None, raw=raw[:-100], gz=False))
    with pytest.raises(ValueError, match=r"long\.pkl: trailing data"):
        data_utils.load_mnist_pkl(write_pkl(tmp_path / "long.pkl", None, raw=raw + b"junk", gz=False))


@pytest.mark.parametrize("content,gz", [
    (b"", False), (b"hello, world\n", False), (b"\x80\x02not a pickle at all", False),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x07", True),  # an IDX file, gzipped
    (b"\x1f\x8bnot really gzip", False),
])
def test_mnist_pkl_not_a_pickle(tmp_path, content, gz):
    path = write_pkl(tmp_path / "junk.pkl.gz", None, raw=content, gz=gz)
    with pytest.raises(ValueError, match=r"junk\.pkl\.gz"):
        data_utils.load_mnist_pkl(path)


def test_mnist_pkl_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.pkl\.gz"):
        data_utils.load_mnist_pkl(tmp_path / "absent.pkl.gz")
    (tmp_path / "adir.pkl.gz").mkdir()
    with pytest.raises(ValueError, match=r"adir\.pkl\.gz"):
        data_utils.load_mnist_pkl(tmp_path / "adir.pkl.gz")


def test_mnist_pkl_full_size(tmp_path):
    """The original sizes (50000/10000/10000), Python 2 layout, through gzip."""
    rng = np.random.default_rng(9)
    data = tuple((rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)) for n in (50000, 10000, 10000))
    path = write_pkl(tmp_path / "mnist.pkl.gz", None, raw=py2_mnist_pickle(data))
    assert_mnist_equal(data_utils.load_mnist_pkl(path), data)


# ----------------------------------------------------------------------------------------------
# The embedded subset
# ----------------------------------------------------------------------------------------------


def test_embedded_subset_shapes_and_balance():
    e = data_utils.load_embedded()
    for split, n in (("train", 5000), ("val", 1000), ("test", 1000)):
        assert e[f"X_{split}"].shape == (n, 28, 28) and e[f"X_{split}"].dtype == np.uint8
        assert e[f"y_{split}"].shape == (n,) and e[f"y_{split}"].dtype == np.int64
        np.testing.assert_array_equal(np.bincount(e[f"y_{split}"], minlength=10), [n // 10] * 10)
        assert len(np.unique(e[f"{split}_source_idx"])) == n
    # train and val come from the same official split and must not overlap
    assert not set(e["train_source_idx"]) & set(e["val_source_idx"])
    assert e["class_names"] == data_utils.FASHION_MNIST_CLASSES
    assert data_utils.EMBEDDED_PATH.stat().st_size < 5_000_000


def test_get_data_embedded_defaults():
    d = data_utils.get_data()
    assert d["X_train"].shape == (5000, 1, 28, 28) and d["X_val"].shape == (1000, 1, 28, 28)
    assert d["X_test"].shape == (1000, 1, 28, 28)
    assert d["X_train"].dtype == np.float32 and d["y_train"].dtype == np.int64
    assert abs(float(d["X_train"].mean())) < 1e-5 and d["X_train"].std() > 0.1
    small = data_utils.get_data(num_training=100, num_validation=50, num_test=20, flatten=True, dtype=np.float64)
    assert small["X_train"].shape == (100, 784) and small["X_val"].shape == (50, 784)
    assert small["X_test"].shape == (20, 784) and small["X_train"].dtype == np.float64
    with pytest.raises(ValueError, match="num_training"):
        data_utils.get_data(num_training=5001)
    with pytest.raises(ValueError, match="dtype"):
        data_utils.get_data(dtype=np.int32)


def test_embedded_subset_corrupt_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(ValueError, match="bad.npz"):
        data_utils.load_embedded(bad)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        data_utils.load_embedded(tmp_path / "missing.npz")


def _fashion_mnist_root():
    root = os.environ.get("FASHION_MNIST_DIR") or str(data_utils.DEBIAN_FASHION_MNIST_DIR)
    if not any((Path(root) / f"train-images-idx3-ubyte{s}").is_file() for s in (".gz", "")):
        pytest.skip(f"full Fashion-MNIST not installed in {root} (Debian package dataset-fashion-mnist)")
    return root


def test_embedded_subset_reproduces_from_full_data():
    root = _fashion_mnist_root()
    spec = importlib.util.spec_from_file_location("make_embedded_subset", REPO / "scripts" / "make_embedded_subset.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rebuilt = script.build_subset(root)
    with np.load(data_utils.EMBEDDED_PATH, allow_pickle=False) as z:
        stored = {k: z[k] for k in z.files}
    assert sorted(rebuilt) == sorted(stored)
    for k in rebuilt:
        np.testing.assert_array_equal(rebuilt[k], stored[k], err_msg=k)


def test_full_fashion_mnist_from_debian():
    root = _fashion_mnist_root()
    X_train, y_train, X_test, y_test = data_utils.load_fashion_mnist(root)
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    e = data_utils.load_embedded()
    np.testing.assert_array_equal(e["X_val"], X_train[e["val_source_idx"]])
    np.testing.assert_array_equal(e["y_test"], y_test[e["test_source_idx"]])
