"""The accuracy peer of `python -m assignment.train --model deepconvnet --data fashion-mnist`: the same
network in PyTorch CPU, trained with the same recipe on the same split, to tell what the recipe
itself reaches.

    python benchmarks/torch_fmnist_accuracy.py --epochs 20 --lr-decay 0.95 --seed 0

Same as the CLI run: get_data("fashion-mnist") (55000 train / 5000 val / 10000 test, mean image
subtracted), He initialization, Adam 1e-3 times --lr-decay after each epoch, batch 100, dropout
0.5, the parameters of the best validation epoch scored on the test set. One difference: minibatches
are a fresh permutation each epoch (our Solver draws each minibatch at random).
"""

import argparse
import copy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_training import torch_deep_convnet  # noqa: E402

from assignment.data_utils import get_data  # noqa: E402


def accuracy(torch, net, X, y, batch=1000):
    net.eval()
    with torch.no_grad():
        hits = sum(int((net(X[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(X), batch))
    net.train()
    return hits / len(X)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr-decay", type=float, default=0.95)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=["fashion-mnist", "embedded"], default="fashion-mnist")
    p.add_argument("--num-train", type=int, default=None, help="training images (default: all)")
    args = p.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = get_data(args.data, num_training=args.num_train)
    X, y = (torch.as_tensor(data[k]) for k in ("X_train", "y_train"))
    Xv, yv = (torch.as_tensor(data[k]) for k in ("X_val", "y_val"))
    Xt, yt = (torch.as_tensor(data[k]) for k in ("X_test", "y_test"))
    net = torch_deep_convnet(torch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=args.lr_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    best_val, best_state, start = -1.0, None, time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(X))
        for i in range(0, len(X) - args.batch_size + 1, args.batch_size):
            idx = order[i : i + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(X[idx]), y[idx]).backward()
            opt.step()
        sched.step()
        val = accuracy(torch, net, Xv, yv)
        if val > best_val:
            best_val, best_state = val, copy.deepcopy(net.state_dict())
        print(f"epoch {epoch}: val acc {val:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    net.load_state_dict(best_state)
    test = accuracy(torch, net, Xt, yt)
    print(f"best val acc {best_val:.4f}; test accuracy of its parameters {test:.4f}; "
          f"{args.epochs} epochs in {(time.perf_counter() - start) / 60:.1f} min")
    return best_val, test, net


if __name__ == "__main__":
    main()
