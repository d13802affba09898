#!/usr/bin/env python3
"""Writes datasets/timeseries/store_sales.csv: synthetic daily sales of 3 stores over 140 days
(weekly pattern, trend, noise), generated here and dedicated to the public domain (CC0-1.0).
Deterministic: python3 scripts/make_store_sales.py reproduces the committed file."""
import csv
import datetime as dt
import math
import random
from pathlib import Path

rng = random.Random(19)
out = Path(__file__).resolve().parent.parent / "datasets" / "timeseries" / "store_sales.csv"
week = [1.0, 0.9, 0.95, 1.0, 1.2, 1.6, 1.4]
start = dt.date(2024, 1, 1)
with out.open("w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["date", "store", "promo", "sales"])
    for store, base, trend in [("north", 100.0, 0.3), ("south", 60.0, -0.05), ("east", 30.0, 0.1)]:
        for d in range(140):
            day = start + dt.timedelta(days=d)
            promo = 1 if rng.random() < 0.1 else 0
            level = base + trend * d + 5 * math.sin(d / 20)
            v = level * week[day.weekday()] * (1.15 if promo else 1.0) + rng.gauss(0, base * 0.03)
            w.writerow([day.isoformat(), store, promo, round(v, 2)])
