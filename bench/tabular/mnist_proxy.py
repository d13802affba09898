"""A dev stand-in for digit-like tabular data (decisions/0102): MNIST-5k images averaged to 7x7
cells (49 integer features, 0-16) with their digit as the target, 1,800 shuffled rows.

Built from ../shared/datasets/images/mnist_5k (not the digits set of bench/tabular/broad.py,
which is held out), so a change to the trainers can be measured on many-class tabular data
without looking at the held-out group.

  python3 bench/tabular/mnist_proxy.py [OUT.csv] [--rows N] [--seed S]   (needs numpy, pillow)
  automl run "classify digit" --data OUT.csv --target digit --time-budget 10s --seed 0
"""
import argparse, os

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "images", "mnist_5k")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="/tmp/mnist_tab.csv")
    ap.add_argument("--rows", type=int, default=1800)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rows = []
    for c in sorted(os.listdir(SRC)):
        d = os.path.join(SRC, c)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            px = np.asarray(Image.open(os.path.join(d, f)).convert("L"), dtype=float)
            cells = px.reshape(7, 4, 7, 4).mean(axis=(1, 3))
            rows.append([int(round(v / 255 * 16)) for v in cells.ravel()] + [c])
    np.random.default_rng(a.seed).shuffle(rows)
    rows = rows[: a.rows]
    with open(a.out, "w") as o:
        o.write(",".join([f"p{i}" for i in range(49)] + ["digit"]) + "\n")
        for r in rows:
            o.write(",".join(map(str, r)) + "\n")
    print(f"{len(rows)} rows -> {a.out}")


if __name__ == "__main__":
    main()
