"""Build assignment/data/fashion_mnist_subset.npz from the full Fashion-MNIST IDX files.

    python scripts/make_embedded_subset.py                 # Debian's files, default output
    python scripts/make_embedded_subset.py --root DIR      # or $FASHION_MNIST_DIR
    python scripts/make_embedded_subset.py --check         # rebuild in memory, compare, write nothing

The subset is class-balanced and deterministic: for each class, a seeded
``np.random.default_rng(SEED)`` permutes that class's indices in the official training split;
the first TRAIN_PER_CLASS go to train and the next VAL_PER_CLASS to val (disjoint); test takes
TEST_PER_CLASS per class from the official test split. Each split is then shuffled with the
same generator so that a prefix of it stays roughly balanced. The source indices are stored
next to the images, with the seed and the SHA-256 of the four source files.
"""

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from assignment import data_utils

SEED = 231
TRAIN_PER_CLASS = 500
VAL_PER_CLASS = 100
TEST_PER_CLASS = 100
NUM_CLASSES = 10
SOURCE_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)


def select_indices(y_train, y_test, seed=SEED):
    """Source indices (train_idx, val_idx, test_idx) of a class-balanced subset.

    Inputs:
    - y_train: labels of the official training split, of shape (60000,)
    - y_test: labels of the official test split, of shape (10000,)
    - seed: the seed of the one np.random.Generator that makes every draw, in a fixed order

    Returns a tuple of three int64 arrays of shapes (10 * TRAIN_PER_CLASS,),
    (10 * VAL_PER_CLASS,), (10 * TEST_PER_CLASS,).
    """
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for c in range(NUM_CLASSES):
        pool = rng.permutation(np.flatnonzero(y_train == c))
        if len(pool) < TRAIN_PER_CLASS + VAL_PER_CLASS:
            raise ValueError(f"class {c} has only {len(pool)} training images")
        train.append(pool[:TRAIN_PER_CLASS])
        val.append(pool[TRAIN_PER_CLASS:TRAIN_PER_CLASS + VAL_PER_CLASS])
    for c in range(NUM_CLASSES):
        pool = rng.permutation(np.flatnonzero(y_test == c))
        if len(pool) < TEST_PER_CLASS:
            raise ValueError(f"class {c} has only {len(pool)} test images")
        test.append(pool[:TEST_PER_CLASS])
    return tuple(rng.permutation(np.concatenate(parts)).astype(np.int64) for parts in (train, val, test))


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_subset(root=None, seed=SEED):
    """The arrays of the subset (a dict ready for np.savez_compressed), from the IDX files in root."""
    root = data_utils._resolve_root(root, "FASHION_MNIST_DIR", data_utils.DEBIAN_FASHION_MNIST_DIR,
                                    "Fashion-MNIST")
    X_train, y_train, X_test, y_test = data_utils.load_fashion_mnist(root)
    train_idx, val_idx, test_idx = select_indices(y_train, y_test, seed)
    files = [data_utils._find_idx(root, stem) for stem in SOURCE_FILES]
    return {
        "X_train": X_train[train_idx], "y_train": y_train[train_idx].astype(np.uint8),
        "X_val": X_train[val_idx], "y_val": y_train[val_idx].astype(np.uint8),
        "X_test": X_test[test_idx], "y_test": y_test[test_idx].astype(np.uint8),
        # uint16 is enough for indices < 60000 and keeps the file small
        "train_source_idx": train_idx.astype(np.uint16),
        "val_source_idx": val_idx.astype(np.uint16),
        "test_source_idx": test_idx.astype(np.uint16),
        "class_names": np.array(data_utils.FASHION_MNIST_CLASSES),
        "seed": np.array(seed, dtype=np.int64),
        "source_files": np.array([f.name for f in files]),
        "source_sha256": np.array([_sha256(f) for f in files]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--out", default=str(data_utils.EMBEDDED_PATH), help="the .npz to write")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--check", action="store_true", help="compare a rebuild with --out; write nothing")
    args = parser.parse_args(argv)

    arrays = build_subset(args.root, args.seed)
    out = Path(args.out)
    if args.check:
        with np.load(out, allow_pickle=False) as z:
            stored = {k: z[k] for k in z.files}
        diff = sorted(k for k in arrays if k not in stored or not np.array_equal(arrays[k], stored[k]))
        if diff:
            print(f"{out} differs from a rebuild in: {', '.join(diff)}")
            return 1
        print(f"{out} reproduces exactly ({out.stat().st_size} bytes)")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {out}: {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
