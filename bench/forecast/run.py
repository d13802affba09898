#!/usr/bin/env python3
"""Forecasting benchmark (issue #19): automl vs FLAML `ts_forecast` vs seasonal naive on public
series shipped in statsmodels.datasets, same cut-offs (the last `h` steps of each series are
the test window, nobody sees them), same time budget per series. MASE is scaled by the
in-sample seasonal-naive MAE of the training part (season m), computed here for every system.

Held-out series were fixed when this script was written, before any tuning of automl's
forecasters, and are reported separately: HELD_OUT below.

    ~/.cache/automl-peers/bin/python bench/forecast/run.py --budget 10 [--automl target/debug/automl]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HELD_OUT = {"elnino", "unemp"}


def series() -> dict[str, tuple[pd.DataFrame, int, int]]:
    """name -> (frame with ds, y; horizon; season)."""
    import statsmodels.api as sm

    out = {}
    co2 = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    out["co2"] = (pd.DataFrame({"ds": co2.index, "y": co2.values}), 12, 12)
    sun = sm.datasets.sunspots.load_pandas().data
    out["sunspots"] = (pd.DataFrame({"ds": pd.to_datetime(sun["YEAR"].astype(int).astype(str) + "-01-01"), "y": sun["SUNACTIVITY"]}), 10, 1)
    nile = sm.datasets.nile.load_pandas().data
    out["nile"] = (pd.DataFrame({"ds": pd.to_datetime(nile["year"].astype(int).astype(str) + "-01-01"), "y": nile["volume"]}), 10, 1)
    mac = sm.datasets.macrodata.load_pandas().data
    q = pd.to_datetime([f"{int(y)}-{3 * int(qq) - 2:02d}-01" for y, qq in zip(mac["year"], mac["quarter"])])
    for col in ["realgdp", "cpi", "unemp"]:
        out[col] = (pd.DataFrame({"ds": q, "y": mac[col].values}), 8, 4)
    el = sm.datasets.elnino.load_pandas().data
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    rows = [(pd.Timestamp(int(r["YEAR"]), i + 1, 1), r[m]) for _, r in el.iterrows() for i, m in enumerate(months)]
    out["elnino"] = (pd.DataFrame(rows, columns=["ds", "y"]), 12, 12)
    return out


def mase(train: np.ndarray, actual: np.ndarray, pred: np.ndarray, m: int) -> float:
    m = m if len(train) > m else 1
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    return float(np.mean(np.abs(actual - pred)) / scale)


def seasonal_naive(train: np.ndarray, h: int, m: int) -> np.ndarray:
    if m <= 1 or len(train) < m:
        return np.repeat(train[-1], h)
    return np.array([train[len(train) - m + k % m] for k in range(h)])


def run_automl(exe: str, train: pd.DataFrame, h: int, budget: float, work: Path) -> tuple[np.ndarray, str]:
    data = work / "train.csv"
    out = work / "run"
    fc = work / "f.csv"
    d = train.copy()
    d["ds"] = d["ds"].dt.strftime("%Y-%m-%d")
    d.to_csv(data, index=False)
    subprocess.run([exe, "run", "forecast y", "--data", str(data), "--target", "y", "--horizon", str(h),
                    "--time-budget", f"{budget}s", "--out", str(out), "--offline"],
                   check=True, capture_output=True)
    subprocess.run([exe, "predict", "--model", str(out), "--data", str(data), "--horizon", str(h), "--out", str(fc)],
                   check=True, capture_output=True)
    model = json.loads((out / "metrics.json").read_text()).get("model", "?") if (out / "metrics.json").exists() else "?"
    return pd.read_csv(fc)["prediction"].to_numpy(), str(model)


def run_flaml(train: pd.DataFrame, h: int, budget: float) -> tuple[np.ndarray, str]:
    from flaml import AutoML

    a = AutoML()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.fit(dataframe=train.rename(columns={"y": "y"}), label="y", task="ts_forecast", period=h,
              time_budget=budget, estimator_list=["lgbm", "xgboost", "rf", "extra_tree", "arima", "sarimax"],
              eval_method="holdout", verbose=0, seed=0)
        last = train["ds"].iloc[-1]
        freq = pd.infer_freq(train["ds"]) or "MS"
        future = pd.DataFrame({"ds": pd.date_range(last, periods=h + 1, freq=freq)[1:]})
        pred = a.predict(future)
    return np.asarray(pred, dtype=float)[:h], str(a.best_estimator)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=10.0)
    ap.add_argument("--automl", default=str(Path(__file__).resolve().parents[2] / "target" / "debug" / "automl"))
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    rows = []
    for name, (df, h, m) in series().items():
        if args.only and name not in args.only:
            continue
        train, test = df.iloc[:-h].reset_index(drop=True), df.iloc[-h:]
        ytr, yte = train["y"].to_numpy(float), test["y"].to_numpy(float)
        r = {"series": name, "n": len(df), "h": h, "m": m, "held_out": name in HELD_OUT}
        r["seasonal_naive"] = mase(ytr, yte, seasonal_naive(ytr, h, m), m)
        with tempfile.TemporaryDirectory() as t:
            t0 = time.time()
            try:
                p, model = run_automl(args.automl, train, h, args.budget, Path(t))
                r["automl"], r["automl_model"] = mase(ytr, yte, p, m), model
            except Exception as e:  # noqa: BLE001 - reported in the table
                r["automl"], r["automl_model"] = float("nan"), f"failed: {e}"
            r["automl_s"] = time.time() - t0
        t0 = time.time()
        try:
            p, est = run_flaml(train, h, args.budget)
            r["flaml"], r["flaml_model"] = mase(ytr, yte, p, m), est
        except Exception as e:  # noqa: BLE001
            r["flaml"], r["flaml_model"] = float("nan"), f"failed: {type(e).__name__}: {e}"[:80]
        r["flaml_s"] = time.time() - t0
        rows.append(r)
        print(json.dumps(r), flush=True)
    t = pd.DataFrame(rows)
    print("\n| series | h | m | held out | seasonal naive | automl (model) | FLAML (model) |")
    print("|---|---|---|---|---|---|---|")
    for _, r in t.iterrows():
        print(f"| {r.series} | {r.h} | {r.m} | {'yes' if r.held_out else ''} | {r.seasonal_naive:.3f} | {r.automl:.3f} ({r.automl_model}) | {r.flaml:.3f} ({r.flaml_model}) |")
    for label, part in [("tuning series", t[~t.held_out]), ("held-out series", t[t.held_out])]:
        if len(part):
            print(f"\n{label}: mean MASE seasonal naive {part.seasonal_naive.mean():.3f}, automl {part.automl.mean():.3f}, FLAML {part.flaml.mean():.3f}; "
                  f"automl < seasonal naive on {(part.automl < part.seasonal_naive).sum()}/{len(part)}, automl <= FLAML on {(part.automl <= part.flaml).sum()}/{len(part)}")


if __name__ == "__main__":
    sys.exit(main())
