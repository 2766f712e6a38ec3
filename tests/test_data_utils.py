"""Data loaders: IDX and CIFAR-10 files built here in tmp_path, and the embedded subset."""

import gzip
import importlib.util
import os
import pickle
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
