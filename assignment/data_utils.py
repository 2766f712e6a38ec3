"""Data sets: MNIST / Fashion-MNIST IDX files, CIFAR-10 python batches, MNIST as one pickle
(``load_mnist_pkl``: Nielsen's ``mnist.pkl.gz``), the embedded subset.

Nothing here downloads anything. Data is found, in this order:

- Fashion-MNIST: the ``root`` argument, else ``$FASHION_MNIST_DIR``, else Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``).
- MNIST: the ``root`` argument, else ``$MNIST_DIR``.
- CIFAR-10: the ``root`` argument, else ``$CIFAR10_DIR`` (the extracted
  ``cifar-10-batches-py`` folder).
- The embedded default: a small, class-balanced, real Fashion-MNIST subset shipped inside the
  package (``assignment/data/fashion_mnist_subset.npz``), so every command runs offline.

Corrupt, truncated or missing files raise an error naming the file: ``FileNotFoundError`` when
it is missing, ``ValueError`` when it is there but wrong.

``get_data`` returns the CS231n-style dict ``{"X_train", "y_train", "X_val", "y_val",
"X_test", "y_test"}`` ready for a model or the Solver.
"""

import gzip
import math
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_PATH = Path(__file__).resolve().parent / "data" / "fashion_mnist_subset.npz"

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

SOURCES = ("embedded", "fashion-mnist", "mnist", "cifar10")

# ---------------------------------------------------------------------------------------------
# IDX (the MNIST file format)
# ---------------------------------------------------------------------------------------------

# IDX type code -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 24


def _open_maybe_gzip(path):
    """Open ``path`` for binary reading, transparently gunzipping when its first bytes say gzip."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        head = f.read(2)
    if head == _GZIP_MAGIC:
        return gzip.open(path, "rb"), True
    return open(path, "rb"), False


def _read_exact(stream, n, path, what):
    """Read exactly ``n`` bytes (in chunks, so a lying header cannot ask for one huge buffer)."""
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(min(_CHUNK, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got != n:
        raise ValueError(f"{path}: truncated {what}: expected {n} bytes, found {got}")
    return b"".join(chunks)


def load_idx(path):
    """Read one IDX file (gzipped or not; detected from its magic bytes, not its name).

    The IDX header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then one big-endian
    uint32 per dimension; the payload follows, big-endian, C order.

    Inputs:
    - path: a str or Path

    Returns:
    - arr: a numpy array of shape (d1, ..., dk) in native byte order

    Raises FileNotFoundError when the file is missing and ValueError (naming the file) when
    the magic number, type code or dimensions are invalid, or when the payload is shorter or
    longer than the dimensions say (a truncated download, a truncated gzip stream).
    """
    path = Path(path)
    stream, gzipped = _open_maybe_gzip(path)
    try:
        with stream:
            magic = _read_exact(stream, 4, path, "IDX header")
            if magic[0] != 0 or magic[1] != 0:
                raise ValueError(
                    f"{path}: not an IDX file (magic number {magic.hex()} does not start with 0000)"
                )
            code, ndim = magic[2], magic[3]
            if code not in _IDX_DTYPES:
                raise ValueError(f"{path}: unknown IDX type code 0x{code:02x} (magic {magic.hex()})")
            if ndim == 0:
                raise ValueError(f"{path}: IDX header declares 0 dimensions")
            dims = tuple(
                int(d) for d in np.frombuffer(_read_exact(stream, 4 * ndim, path, "IDX dimensions"), ">u4")
            )
            dtype = _IDX_DTYPES[code]
            nbytes = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
            if not gzipped:
                size = path.stat().st_size
                if size != 4 + 4 * ndim + nbytes:
                    raise ValueError(
                        f"{path}: header says shape {dims} of {dtype.str[1:]} ({nbytes} payload bytes) "
                        f"but the file holds {size - 4 - 4 * ndim} payload bytes"
                        + (" (truncated)" if size < 4 + 4 * ndim + nbytes else " (trailing data)")
                    )
            payload = _read_exact(stream, nbytes, path, f"IDX payload for shape {dims}")
            if stream.read(1):
                raise ValueError(f"{path}: trailing data after the IDX payload of shape {dims}")
    except (EOFError, OSError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({e})") from e
    arr = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _find_idx(root, stem):
    """The path of ``stem`` in ``root``, as published (``stem.gz``), unpacked, or dotted."""
    root = Path(root)
    dotted = stem.replace("-idx", ".idx")  # MNIST as unpacked by some archivers
    candidates = [root / f"{stem}.gz", root / stem, root / f"{dotted}.gz", root / dotted]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"{root / stem}(.gz): no such file (looked for {', '.join(c.name for c in candidates)} in {root})"
    )


def load_mnist_idx(root, kind="train"):
    """Load one split of MNIST or Fashion-MNIST from its two IDX files in ``root``.

    Inputs:
    - root: the folder holding ``{kind}-images-idx3-ubyte(.gz)`` and ``{kind}-labels-idx1-ubyte(.gz)``
    - kind: "train" (60000 examples) or "t10k" (10000 test examples)

    Returns a tuple of:
    - X: uint8 images, of shape (N, 28, 28)
    - y: int64 labels in [0, 10), of shape (N,)
    """
    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {kind!r}")
    images_path = _find_idx(root, f"{kind}-images-idx3-ubyte")
    labels_path = _find_idx(root, f"{kind}-labels-idx1-ubyte")
    X = load_idx(images_path)
    y = load_idx(labels_path)
    if X.dtype != np.uint8 or X.ndim != 3:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, H, W), got {X.dtype} {X.shape}")
    if y.dtype != np.uint8 or y.ndim != 1:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), got {y.dtype} {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"image/label count mismatch: {images_path} holds {X.shape[0]} images but "
            f"{labels_path} holds {y.shape[0]} labels"
        )
    if y.size and y.max() >= 10:
        raise ValueError(f"{labels_path}: labels must lie in [0, 10), found {int(y.max())}")
    return X, y.astype(np.int64)


def _resolve_root(root, env, default=None, what="data"):
    if root is not None:
        return Path(root)
    if os.environ.get(env):
        return Path(os.environ[env])
    if default is not None and Path(default).is_dir():
        return Path(default)
    hint = f", or install Debian's dataset package ({default})" if default is not None else ""
    raise FileNotFoundError(f"no {what} folder: pass root=... or set ${env}{hint}")


def load_fashion_mnist(root=None):
    """Load all of Fashion-MNIST from IDX files.

    Inputs:
    - root: a folder with the four IDX files; default ``$FASHION_MNIST_DIR``, else
      ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``)

    Returns a tuple of:
    - X_train: uint8, of shape (60000, 28, 28)
    - y_train: int64, of shape (60000,)
    - X_test: uint8, of shape (10000, 28, 28)
    - y_test: int64, of shape (10000,)
    """
    root = _resolve_root(root, "FASHION_MNIST_DIR", DEBIAN_FASHION_MNIST_DIR, "Fashion-MNIST")
    X_train, y_train = load_mnist_idx(root, "train")
    X_test, y_test = load_mnist_idx(root, "t10k")
    return X_train, y_train, X_test, y_test


def load_mnist(root=None):
    """Load all of MNIST from IDX files in ``root`` (default ``$MNIST_DIR``); as load_fashion_mnist."""
    root = _resolve_root(root, "MNIST_DIR", None, "MNIST")
    X_train, y_train = load_mnist_idx(root, "train")
    X_test, y_test = load_mnist_idx(root, "t10k")
    return X_train, y_train, X_test, y_test


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python batches (pickles, read without ever resolving a real global)
# ---------------------------------------------------------------------------------------------

CIFAR10_BATCH_ROWS = 10000
CIFAR10_ROW_SIZE = 3 * 32 * 32


class _DtypeStub:
    """Stands in for ``numpy.dtype`` while unpickling: records its arguments, runs nothing."""

    def __init__(self, name, align=False, copy=False):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        if not isinstance(name, str):
            raise pickle.UnpicklingError(f"dtype name must be a string, got {type(name).__name__}")
        self.name, self.byteorder = name, "="

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], (str, bytes)):
            order = state[1].decode("ascii") if isinstance(state[1], bytes) else state[1]
            self.byteorder = order if order in "<>|=" else "="

    def resolve(self):
        try:
            dtype = np.dtype(self.name)
        except (TypeError, ValueError, SyntaxError) as e:
            raise ValueError(f"unknown array dtype {self.name[:40]!r}") from e
        if dtype.kind not in "biuf" or dtype.hasobject:
            raise ValueError(f"refusing array dtype {self.name[:40]!r} (only plain numbers are allowed)")
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" else dtype


class _ArrayStub:
    """Stands in for an ndarray while unpickling; ``resolve`` builds the real one from raw bytes."""

    def __init__(self, shape=(0,), dtype=None, raw=None, fortran=False):
        self.shape, self.dtype, self.raw, self.fortran = shape, dtype, raw, fortran

    def __setstate__(self, state):
        # ndarray.__reduce__ state: (version, shape, dtype, is_fortran, rawdata)
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("unexpected ndarray state")
        _, self.shape, self.dtype, self.fortran, self.raw = state

    def resolve(self):
        """The real array (a fresh, writeable copy in native byte order); ValueError if malformed."""
        if not isinstance(self.dtype, _DtypeStub):
            raise ValueError("array without a dtype")
        dtype = self.dtype.resolve()
        raw = self.raw
        if isinstance(raw, str):  # Python 2 str, read with encoding="latin1"
            try:
                raw = raw.encode("latin1")
            except UnicodeEncodeError as e:
                raise ValueError("array data is not a byte string") from e
        if not isinstance(raw, (bytes, bytearray)):
            raise ValueError(f"array data must be raw bytes, got {type(raw).__name__}")
        if not isinstance(self.shape, (tuple, list)) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.shape
        ):
            raise ValueError("array shape must be a tuple of non-negative integers")
        shape = tuple(self.shape)
        if math.prod(shape) * dtype.itemsize != len(raw):
            raise ValueError(f"array of shape {shape} and dtype {dtype} does not match its {len(raw)} bytes")
        arr = np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order="F" if self.fortran else "C")
        return arr.astype(dtype.newbyteorder("="))


class _Standin:
    """What ``find_class`` hands the unpickler in place of a global: a name and a local callable.

    Instances are not types (so NEWOBJ cannot build one) and refuse BUILD, so a pickle cannot
    set attributes on a stand-in (its defaults, say) to change how later files are read.
    """

    __slots__ = ("name", "_fn")

    def __init__(self, name, fn):
        self.name, self._fn = name, fn

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"refused to set state on global {self.name}")

    def __repr__(self):
        return f"<stand-in for {self.name}>"


def _ndarray_call(*args, **kwargs):
    raise pickle.UnpicklingError("numpy.ndarray may only be named as the type _reconstruct builds")


_NDARRAY = _Standin("numpy.ndarray", _ndarray_call)


def _reconstruct_stub(subtype, shape, dtype):
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError("only plain ndarrays may be reconstructed")
    return _ArrayStub()


def _frombuffer_stub(buf, dtype, shape, order="C"):
    return _ArrayStub(shape, dtype, buf, order == "F")


def _codecs_encode_stub(text, encoding="utf-8"):
    # Python 3 pickles bytes at protocol <= 2 as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("only _codecs.encode(str, 'latin1') is allowed")
    return text.encode("latin1")


def _empty_bytes_stub(*args):
    # Python 3 pickles b"" at protocol <= 2 as bytes() (an empty array's data): only that is allowed.
    if args:
        raise pickle.UnpicklingError("only bytes() with no arguments is allowed")
    return b""


def _standin(module, name, fn):
    return (module, name), _Standin(f"{module}.{name}", fn)


# The only names a pickled numpy array may mention (numpy 1.x and 2.x spellings; protocol 2
# adds _codecs.encode for bytes and bytes() for empty bytes, protocol 5 uses _frombuffer), each
# mapped to an inert local stand-in above. No real global (numpy's included) is ever handed to
# the unpickler.
_PICKLE_STANDINS = dict([
    _standin("numpy.core.multiarray", "_reconstruct", _reconstruct_stub),
    _standin("numpy._core.multiarray", "_reconstruct", _reconstruct_stub),
    _standin("numpy.core.numeric", "_frombuffer", _frombuffer_stub),
    _standin("numpy._core.numeric", "_frombuffer", _frombuffer_stub),
    (("numpy", "ndarray"), _NDARRAY),
    _standin("numpy", "dtype", _DtypeStub),
    _standin("_codecs", "encode", _codecs_encode_stub),
    _standin("__builtin__", "bytes", _empty_bytes_stub),
    _standin("builtins", "bytes", _empty_bytes_stub),
])

# What a malformed pickle can raise inside the restricted unpickler (never a payload's own code).
_UNPICKLING_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                      KeyError, UnicodeError, OverflowError, MemoryError, RecursionError)


class _RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` refuses every global.

    Only dicts, lists, tuples, bytes, str, numbers, booleans and None (built by opcodes, not
    globals) survive, plus the handful of numpy names a pickled array needs to describe
    itself, which resolve to local stand-ins that only record their arguments (see
    ``_ArrayStub.resolve`` for the real array). A pickle that names ``os.system``,
    ``builtins.eval``, ``subprocess.Popen`` or anything else is refused before anything runs.
    """

    def find_class(self, module, name):
        standin = _PICKLE_STANDINS.get((module, name))
        if standin is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return standin

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused persistent id")


def _get_key(d, key):
    for k in (key.encode("ascii"), key):
        if k in d:
            return d[k]
    return None


def load_cifar_batch(path):
    """Load one CIFAR-10 python batch (``data_batch_1`` ... ``data_batch_5``, ``test_batch``).

    A batch is a pickled dict with ``b"data"`` (uint8, of shape (10000, 3072): 1024 red, then
    1024 green, then 1024 blue values per image, each 32x32 in row-major order) and
    ``b"labels"`` (10000 ints in [0, 10)). It is read with an unpickler that refuses every
    global, so a malicious file cannot run code.

    Inputs:
    - path: a str or Path

    Returns a tuple of:
    - X: uint8 images, of shape (CIFAR10_BATCH_ROWS, 32, 32, 3) (CS231n's layout: N, H, W, C)
    - y: int64 labels, of shape (CIFAR10_BATCH_ROWS,)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            batch = _RestrictedUnpickler(f, encoding="bytes").load()
    except _UNPICKLING_ERRORS as e:
        raise ValueError(f"{path}: not a valid CIFAR-10 batch ({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: a CIFAR-10 batch must be a pickled dict, got {type(batch).__name__}")
    data, labels = _get_key(batch, "data"), _get_key(batch, "labels")
    if data is None or labels is None:
        raise ValueError(f"{path}: a CIFAR-10 batch needs b'data' and b'labels', got keys {sorted(map(repr, batch))}")
    try:
        if isinstance(data, _ArrayStub):
            data = data.resolve()
        elif isinstance(data, (bytes, bytearray)):
            data = np.frombuffer(bytes(data), dtype=np.uint8)
            data = data.reshape(-1, CIFAR10_ROW_SIZE) if data.size % CIFAR10_ROW_SIZE == 0 else data
        else:
            raise ValueError(f"b'data' must be an array, got {type(data).__name__}")
        if isinstance(labels, _ArrayStub):
            labels = labels.resolve()
        if isinstance(labels, (list, tuple)) and not all(
            isinstance(v, int) and not isinstance(v, bool) for v in labels
        ):
            raise ValueError("b'labels' must hold integers")
        labels = np.asarray(labels)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    want = (CIFAR10_BATCH_ROWS, CIFAR10_ROW_SIZE)
    if data.dtype != np.uint8 or data.shape != want:
        raise ValueError(f"{path}: b'data' must be uint8 of shape {want}, got {data.dtype} {data.shape}")
    if labels.shape != (CIFAR10_BATCH_ROWS,) or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(
            f"{path}: b'labels' must hold {CIFAR10_BATCH_ROWS} integers, got {labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= 10):
        raise ValueError(f"{path}: labels must lie in [0, 10), found [{labels.min()}, {labels.max()}]")
    X = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(X), labels.astype(np.int64)


def load_cifar10(root=None):
    """Load all of CIFAR-10 from its python batches.

    Inputs:
    - root: the extracted ``cifar-10-batches-py`` folder; default ``$CIFAR10_DIR``

    Returns a tuple of:
    - X_train: uint8, of shape (50000, 32, 32, 3)
    - y_train: int64, of shape (50000,)
    - X_test: uint8, of shape (10000, 32, 32, 3)
    - y_test: int64, of shape (10000,)
    """
    root = _resolve_root(root, "CIFAR10_DIR", None, "CIFAR-10")
    parts = [load_cifar_batch(root / f"data_batch_{i}") for i in range(1, 6)]
    X_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    X_test, y_test = load_cifar_batch(root / "test_batch")
    return X_train, y_train, X_test, y_test


# ---------------------------------------------------------------------------------------------
# MNIST as one pickle (Nielsen's mnist.pkl.gz), read without ever resolving a real global
# ---------------------------------------------------------------------------------------------

MNIST_PKL_SPLITS = ("train", "valid", "test")
MNIST_PKL_FEATURES = 28 * 28


def _describe(obj):
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of length {len(obj)}"
    if isinstance(obj, _Standin):
        return f"a reference to {obj.name}"
    if isinstance(obj, _DtypeStub):
        return "a dtype"
    if isinstance(obj, _ArrayStub):
        return "a numpy array"
    return f"a {type(obj).__name__}"


def _pkl_array(obj, what):
    if not isinstance(obj, _ArrayStub):
        raise ValueError(f"{what} must be a numpy array, got {_describe(obj)}")
    try:
        return obj.resolve()
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from e


def _check_mnist_pkl_split(part, split):
    """One (X, y) pair -> (float32 X of shape (N, 784), int64 y of shape (N,)); ValueError if wrong."""
    if not isinstance(part, (tuple, list)) or len(part) != 2:
        raise ValueError(f"{split}: expected a pair (X, y), got {_describe(part)}")
    X, y = _pkl_array(part[0], f"{split}: X"), _pkl_array(part[1], f"{split}: y")
    if X.ndim != 2 or X.shape[1] != MNIST_PKL_FEATURES:
        raise ValueError(f"{split}: X has shape {X.shape}, expected (N, {MNIST_PKL_FEATURES})")
    if X.dtype.kind != "f":
        raise ValueError(f"{split}: X has dtype {X.dtype}, expected a float dtype (pixels in [0, 1])")
    X = X.astype(np.float32, copy=False)
    if X.size and not (np.isfinite(X).all() and X.min() >= 0 and X.max() <= 1):
        raise ValueError(f"{split}: X must hold finite pixel values in [0, 1], found [{X.min()}, {X.max()}]")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"{split}: y has dtype {y.dtype} and shape {y.shape}, expected integer labels of shape (N,)")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{split}: X holds {X.shape[0]} images but y holds {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() >= 10):
        raise ValueError(f"{split}: labels must lie in [0, 10), found [{y.min()}, {y.max()}]")
    return X, y.astype(np.int64)


def load_mnist_pkl(path):
    """Load MNIST from one pickle in the layout of Nielsen's ``mnist.pkl.gz`` (network3.py).

    The file (gzipped or not; detected from its magic bytes, not its name) is a pickle, as
    written by Python 2's cPickle (protocol 2) or by Python 3 (any protocol), of a tuple
    ``(training_data, validation_data, test_data)``, each a pair ``(X, y)`` of numpy arrays:
    X float, of shape (N, 784), pixels in [0, 1] (28x28 images, row-major); y integer labels
    in [0, 10), of shape (N,). Nielsen's file splits the official 60000 training images into
    50000 training and 10000 validation images; its test split is the official 10000.

    It is read with an unpickler that refuses every global but numpy's array reconstruction
    (itself replaced by inert stand-ins), so a malicious file cannot run code: it is refused
    with a ValueError before anything in it runs.

    Inputs:
    - path: a str or Path

    Returns a tuple (train, valid, test), each a tuple of:
    - X: float32 images, of shape (N, 784)
    - y: int64 labels in [0, 10), of shape (N,)

    Raises FileNotFoundError when the file is missing and ValueError (naming the file, and the
    split for a bad array) when it is not such a pickle: a refused global, a corrupt or
    truncated gzip stream, trailing data, a wrong structure, shape, dtype or label.
    """
    path = Path(path)
    stream, _ = _open_maybe_gzip(path)
    try:
        with stream:
            data = _RestrictedUnpickler(stream, encoding="latin1").load()
            # Reading on to the end checks the gzip trailer (CRC, length) and finds trailing data.
            trailing = stream.read(1)
    except (OSError, zlib.error, *_UNPICKLING_ERRORS) as e:
        raise ValueError(f"{path}: not a valid MNIST pickle ({type(e).__name__}: {e})") from e
    if trailing:
        raise ValueError(f"{path}: trailing data after the pickle")
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise ValueError(
            f"{path}: expected a tuple (training_data, validation_data, test_data), got {_describe(data)}"
        )
    try:
        return tuple(_check_mnist_pkl_split(part, split) for part, split in zip(data, MNIST_PKL_SPLITS, strict=True))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


# ---------------------------------------------------------------------------------------------
# The embedded subset
# ---------------------------------------------------------------------------------------------

_EMBEDDED_SPLITS = ("train", "val", "test")


def load_embedded(path=None):
    """Load the Fashion-MNIST subset shipped inside the package.

    It holds 5000 training, 1000 validation and 1000 test images, 10% of each per class,
    drawn with a fixed seed: train and val from the official training split (disjoint), test
    from the official test split.

    Inputs:
    - path: another .npz in the same layout (default: the embedded one)

    Returns a dict with:
    - "X_train", "X_val", "X_test": uint8 images, of shape (N, 28, 28)
    - "y_train", "y_val", "y_test": int64 labels in [0, 10), of shape (N,)
    - "train_source_idx", "val_source_idx", "test_source_idx": int64, of shape (N,): the
      index of each image in its official split (train/val: train split, test: t10k)
    - "class_names": a tuple of the 10 class names
    - "seed": the seed the subset was drawn with
    """
    path = Path(path) if path is not None else EMBEDDED_PATH
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the embedded Fashion-MNIST subset is missing (reinstall the package)")
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: corrupt embedded subset ({e})") from e
    out = {}
    for split in _EMBEDDED_SPLITS:
        try:
            X, y, idx = raw[f"X_{split}"], raw[f"y_{split}"], raw[f"{split}_source_idx"]
        except KeyError as e:
            raise ValueError(f"{path}: missing array {e} (has {sorted(raw)})") from e
        if X.dtype != np.uint8 or X.ndim != 3 or y.shape != (X.shape[0],) or idx.shape != y.shape:
            raise ValueError(
                f"{path}: split {split!r} has X {X.dtype} {X.shape}, y {y.shape}, indices {idx.shape}"
            )
        out[f"X_{split}"], out[f"y_{split}"] = X, y.astype(np.int64)
        out[f"{split}_source_idx"] = idx.astype(np.int64)
    out["class_names"] = tuple(str(c) for c in raw.get("class_names", FASHION_MNIST_CLASSES))
    out["seed"] = int(raw["seed"]) if "seed" in raw else None
    return out


# ---------------------------------------------------------------------------------------------
# get_data: the CS231n-style dict
# ---------------------------------------------------------------------------------------------

def _take(name, X, y, n, available):
    if n is None:
        return X, y
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer or None, got {n!r}")
    if n > available:
        raise ValueError(f"{name}={n} but only {available} examples are available")
    return X[:n], y[:n]


def get_data(
    source="embedded",
    root=None,
    num_training=None,
    num_validation=None,
    num_test=None,
    dtype=np.float32,
    subtract_mean=True,
    flatten=False,
    channels_first=True,
):
    """Load a data set and preprocess it for the classifiers and the Solver (CS231n's get_*_data).

    Images are scaled to [0, 1], then (``subtract_mean``) the per-pixel mean image of the
    training images returned is subtracted from every split. Only the training images enter
    the mean, so validation and test data stay unseen.

    Inputs:
    - source: "embedded" (the shipped Fashion-MNIST subset, the default; always offline),
      "fashion-mnist", "mnist" (IDX files) or "cifar10" (python batches)
    - root: where the files are, for the full data sets (see the module docstring for the
      environment variables and defaults); ignored for "embedded"
    - num_training: keep this many training examples (None: all there are; for "embedded",
      5000; for the full sets, the training split minus the validation examples)
    - num_validation: the number of validation examples (None: 1000 for "embedded" and
      "cifar10", 5000 for "fashion-mnist" / "mnist"). For the full sets they are the LAST
      num_validation examples of the official training split, so the validation set does not
      change with num_training; training examples are taken from the start.
    - num_test: keep this many test examples (None: all: 1000 embedded, 10000 otherwise)
    - dtype: the floating dtype of the images (float32 by default; float64 for gradient checks)
    - subtract_mean: subtract the training mean image
    - flatten: return images as (N, D) rows instead of image tensors
    - channels_first: (N, C, H, W) images (CS231n's conv layout) if True, (N, H, W, C) if False;
      also decides the order in which flatten lays out each row

    Returns a dict with:
    - "X_train", "X_val", "X_test": images of dtype ``dtype``, of shape (N, 1, 28, 28) for the
      MNIST-likes and (N, 3, 32, 32) for CIFAR-10 (or (N, H, W, C) / (N, D) as asked)
    - "y_train", "y_val", "y_test": int64 labels in [0, 10), of shape (N,)
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")

    if source == "embedded":
        e = load_embedded()
        X_tr, y_tr, X_val, y_val, X_te, y_te = (
            e["X_train"], e["y_train"], e["X_val"], e["y_val"], e["X_test"], e["y_test"]
        )
        X_val, y_val = _take("num_validation", X_val, y_val, num_validation, len(y_val))
    else:
        loader = {"fashion-mnist": load_fashion_mnist, "mnist": load_mnist, "cifar10": load_cifar10}[source]
        X_full, y_full, X_te, y_te = loader(root)
        if num_validation is None:
            num_validation = 1000 if source == "cifar10" else 5000
        _take("num_validation", X_full, y_full, num_validation, len(y_full))
        split = len(y_full) - num_validation
        X_tr, y_tr = X_full[:split], y_full[:split]
        X_val, y_val = X_full[split:], y_full[split:]
    X_tr, y_tr = _take("num_training", X_tr, y_tr, num_training, len(y_tr))
    X_te, y_te = _take("num_test", X_te, y_te, num_test, len(y_te))

    if X_tr.ndim == 3:  # MNIST-likes: add the channel axis, (N, H, W) -> (N, H, W, 1)
        X_tr, X_val, X_te = (X[..., None] for X in (X_tr, X_val, X_te))
    scale = dtype.type(1.0 / 255.0)
    mean = None
    if subtract_mean and len(y_tr):
        mean = (np.mean(X_tr, axis=0, dtype=np.float64) / 255.0).astype(dtype)

    def prep(X):
        out = X.astype(dtype) * scale
        if mean is not None:
            out -= mean
        if channels_first:
            out = out.transpose(0, 3, 1, 2)
        out = np.ascontiguousarray(out)
        return out.reshape(out.shape[0], -1) if flatten else out

    return {
        "X_train": prep(X_tr), "y_train": y_tr.astype(np.int64),
        "X_val": prep(X_val), "y_val": y_val.astype(np.int64),
        "X_test": prep(X_te), "y_test": y_te.astype(np.int64),
    }
