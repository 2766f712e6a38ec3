"""The demo: train DeepConvNet on the embedded Fashion-MNIST subset with the fast layers.

    python -m assignment.demo [--epochs 4] [--out runs/demo] [any option of assignment.train]

The same command as ``python -m assignment.train`` with the demo's defaults: the embedded
real data (offline), DeepConvNet, adam, a progress bar, train/val accuracy and img/s per epoch,
then the test accuracy, a loss/accuracy plot, a checkpoint per epoch and summary.json in --out.
The softmax classifier has its own short demo: ``python -m assignment.linear_demo``.
It first prints which fast layers run: ``fast layers: cython (compiled)``, or
``fast layers: numpy fallback (<why>)`` where the compiled ones are not built.
"""

import sys

from assignment import fast_layers, train

DEMO_DEFAULTS = {"model": "deepconvnet", "data": "embedded", "epochs": 4, "out": "runs/demo", "lr_decay": 0.9}


def main(argv=None):
    print(fast_layers.describe(), flush=True)
    return train.main(argv, **DEMO_DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
