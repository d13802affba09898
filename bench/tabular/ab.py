"""Paired A/B of two automl binaries on the broad benchmark's splits (bench/tabular/broad.py).

Run with the Python that has the data packages (the peers' venv):

    ~/.cache/automl-peers/bin/python bench/tabular/ab.py --a /tmp/automl-base \
        --b target/debug/automl --group dev --seeds 0,1 --budget 10

Each set and seed runs A then B back to back (so both see the same machine load), on exactly
the same test rows, and the table shows both scores and B - A. Use it on the dev group when
tuning; the held-out group is for reports only (see docs/tabular.md).
"""
import argparse
import json
import sys

import broad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="the baseline binary")
    ap.add_argument("--b", required=True, help="the candidate binary")
    ap.add_argument("--group", default="dev", choices=["all", "dev", "held_out"])
    ap.add_argument("--only", default="")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--budget", type=float, default=10.0)
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    names = sorted(set(broad.SETS) | set(broad.SHARED_SETS))
    if a.only:
        names = [n for n in names if n in a.only.split(",")]
    print("| set | metric | seed | A | B | B − A |\n|---|---|---|---|---|---|", flush=True)
    diffs = []
    for n in names:
        ds = broad.materialise(n, seeds)
        if a.group not in ("all", ds["group"]):
            continue
        for s, f in ds["splits"]:
            r = {}
            for side, binary in (("a", a.a), ("b", a.b)):
                try:
                    r[side] = broad.ours(binary, ds, f, a.budget, s)["score"]
                except Exception as e:  # a failed run is shown, not hidden
                    print(f"{n} seed {s} {side}: {e}", file=sys.stderr)
                    r[side] = None
            d = None if None in (r["a"], r["b"]) else r["b"] - r["a"]
            if d is not None:
                diffs.append(d)
            print(f"| {n} | {broad.METRIC[ds['task']]} | {s} | {broad.fmt(r['a'], '.4f')} | "
                  f"{broad.fmt(r['b'], '.4f')} | {broad.fmt(d, '+.4f')} |", flush=True)
            print(json.dumps(dict(set=n, seed=s, **r)), file=sys.stderr, flush=True)
    if diffs:
        print(f"\nB better on {sum(d > 1e-4 for d in diffs)}, worse on {sum(d < -1e-4 for d in diffs)}, "
              f"equal on {sum(abs(d) <= 1e-4 for d in diffs)} of {len(diffs)}; mean B − A {sum(diffs) / len(diffs):+.4f}")


if __name__ == "__main__":
    main()
