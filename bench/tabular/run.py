#!/usr/bin/env python3
"""Tabular benchmark: automl beside FLAML and HistGradientBoosting on the same rows.

For every tabular data set in shared/datasets with a split in shared/bench/splits, runs in the
same session: our search at 10 s and 60 s (the `automl` binary, scored on the split's test rows),
FLAML at 10 s and 60 s and scikit-learn's HistGradientBoosting via shared/bench/peers.py. Prints
one table: metric (binary ROC AUC, multiclass accuracy, regression R²), scores, fit time against
budget (our TRAIN stage, and our whole process), peak RSS of each process.

usage: python3 bench/tabular/run.py [--budgets 10,60] [--only iris,adult] [--skip-peers]
It builds the binary with `cargo build -p automl-server` (dependencies and automl-core are fully
optimised in the dev profile, see Cargo.toml) and the peers' venv with shared/bench/setup.sh.
"""
import argparse, datetime, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


def ours(binary, ds, split_file, budget):
    out_dir = tempfile.mkdtemp(prefix="automl-bench-")
    verb = "predict" if ds["task"] == "regression" else "classify"
    cmd = [binary, "run", f"{verb} {ds['target']}", "--data", ds["path"], "--target", ds["target"],
           "--test-rows", split_file, "--time-budget", f"{budget}s", "--metric", METRIC[ds["task"]],
           "--json", "--out", out_dir, "--seed", "0"]
    t0 = time.perf_counter()
    # Output goes to files, not pipes: the event stream is larger than a pipe buffer.
    with open(os.path.join(out_dir, "stdout.jsonl"), "wb") as fo, open(os.path.join(out_dir, "stderr.txt"), "wb") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out = open(os.path.join(out_dir, "stdout.jsonl")).read()
    err = open(os.path.join(out_dir, "stderr.txt")).read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"automl failed on {ds['name']}: {err[-500:]}")
    score, train_s, starts = None, None, {}
    for line in out.splitlines():
        e = json.loads(line)
        ev = e["event"]
        if ev["name"] == "REVIEW_READY":
            score = ev["payload"]["metrics"].get(METRIC[ds["task"]])
        if ev["name"] == "STAGE_STATUS" and ev["payload"]["stage"] == "TRAIN":
            ts = datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
            if ev["payload"]["status"] == "running":
                starts["train"] = ts
            elif ev["payload"]["status"] == "completed":
                train_s = (ts - starts["train"]).total_seconds()
    return dict(score=score, train_s=train_s, wall_s=wall, rss_mb=ru.ru_maxrss / 1024)


def peer(python, ds, split_file, method, budget):
    cmd = [python, os.path.join(SHARED, "bench", "peers.py"), "--data", ds["path"], "--target", ds["target"],
           "--task", ds["task"], "--split", split_file, "--method", method, "--budget", str(budget), "--n-jobs", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"peer {method} failed on {ds['name']}: {p.stderr[-500:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return dict(score=r.get(METRIC[ds["task"]]), fit_s=r["fit_s"], rss_mb=r["peak_rss_mb"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="10,60")
    ap.add_argument("--only", default="")
    ap.add_argument("--skip-peers", action="store_true")
    a = ap.parse_args()
    budgets = [float(b) for b in a.budgets.split(",")]
    subprocess.run(["cargo", "build", "--quiet", "-p", "automl-server"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "debug", "automl")
    python = None
    if not a.skip_peers:
        python = subprocess.run(["bash", os.path.join(SHARED, "bench", "setup.sh")], capture_output=True,
                                text=True, check=True).stdout.strip().splitlines()[-1]
    manifest = json.load(open(os.path.join(SHARED, "datasets", "manifest.json")))
    rows = []
    for m in manifest:
        if not m["file"].startswith("tabular/"):
            continue
        name = os.path.basename(m["file"]).rsplit(".", 1)[0]
        split_file = os.path.join(SHARED, "bench", "splits", f"{name}.json")
        if not os.path.exists(split_file) or (a.only and name not in a.only.split(",")):
            continue
        ds = dict(name=name, path=os.path.join(SHARED, "datasets", m["file"]), target=m["target"], task=m["task"])
        r = dict(dataset=name, metric=METRIC[m["task"]])
        for b in budgets:
            r[f"ours{int(b)}"] = ours(binary, ds, split_file, b)
            if python:
                r[f"flaml{int(b)}"] = peer(python, ds, split_file, "flaml", b)
        if python:
            r["hgb"] = peer(python, ds, split_file, "hgb", 0)
        rows.append(r)
        print(json.dumps(r), file=sys.stderr, flush=True)
    # The table.
    cols = ["dataset", "metric"] + [f"ours{int(b)}" for b in budgets] + ([f"flaml{int(b)}" for b in budgets] + ["hgb"] if python else [])
    print("| " + " | ".join(cols) + " | " + " | ".join(f"ours{int(b)} train/wall s" for b in budgets) +
          " | " + " | ".join(f"RSS MB ours{int(b)}" for b in budgets) +
          (" | " + " | ".join(f"RSS MB flaml{int(b)}" for b in budgets) if python else "") + " |")
    print("|" + "---|" * (len(cols) + 2 * len(budgets) + (len(budgets) if python else 0)))
    for r in rows:
        cells = [r["dataset"], r["metric"]]
        cells += [f"{r[c]['score']:.4f}" if r.get(c) and r[c]["score"] is not None else "-" for c in cols[2:]]
        cells += [f"{r[f'ours{int(b)}']['train_s']:.2f}/{r[f'ours{int(b)}']['wall_s']:.2f}" for b in budgets]
        cells += [f"{r[f'ours{int(b)}']['rss_mb']:.0f}" for b in budgets]
        if python:
            cells += [f"{r[f'flaml{int(b)}']['rss_mb']:.0f}" for b in budgets]
        print("| " + " | ".join(cells) + " |")
    # Goals.
    if python and len(budgets) >= 2:
        lo, hi = int(budgets[0]), int(budgets[-1])
        sign = lambda m: -1 if m in ("rmse", "mae", "log_loss") else 1
        reach = sum(1 for r in rows if sign(r["metric"]) * r[f"ours{lo}"]["score"] >= sign(r["metric"]) * r[f"flaml{hi}"]["score"] - 1e-9)
        print(f"\nours at {lo} s reaches FLAML at {hi} s on {reach}/{len(rows)} sets")
        for b in budgets:
            mo = sum(r[f"ours{int(b)}"]["score"] for r in rows) / len(rows)
            mf = sum(r[f"flaml{int(b)}"]["score"] for r in rows) / len(rows)
            print(f"mean score at {int(b)} s: ours {mo:.4f}, FLAML {mf:.4f}")
        worst = max((r[f"ours{int(b)}"]["train_s"] - b) / b for r in rows for b in budgets)
        print(f"worst overrun of the TRAIN stage against its budget: {worst * 100:.1f}%")


if __name__ == "__main__":
    main()
