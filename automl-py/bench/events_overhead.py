"""Per-event cost of crossing into Python: how many wire envelopes per second the native
EventStream turns into Python dicts.

    target/py-venv/bin/python automl-py/bench/events_overhead.py [--runs N] [--repeat R] [--budget S]

It runs `N` short real runs (iris, bundled catalog) and then replays their logs `R` times
through `handle.events()` (replay: the run is over, so this times only the crossing — lock,
serialise, build the dict — not the run). As a reference it times `json.loads` of the same
envelopes as JSON lines, the cheapest way Python could receive them as text.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import automl

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--budget", type=float, default=10, help="each run's time budget, seconds")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        c = automl.Conductor(runs_dir=tmp, catalog_dir=REPO / "datasets")
        handles = []
        for i in range(a.runs):
            h = c.start("classify iris species", time_budget=a.budget, seed=i)
            h.wait()
            handles.append(h)
        n = 0
        t0 = time.perf_counter()
        for _ in range(a.repeat):
            for h in handles:
                for _e in h.events():
                    n += 1
        dt = time.perf_counter() - t0
        lines = [json.dumps(e) for h in handles for e in h.events()]
        t1 = time.perf_counter()
        m = 0
        for _ in range(a.repeat):
            for line in lines:
                json.loads(line)
                m += 1
        dj = time.perf_counter() - t1
        size = sum(len(s) for s in lines) / max(len(lines), 1)
    print(
        f"python iterator: {n} events in {dt:.3f} s = {n / dt:,.0f} events/s "
        f"({dt / n * 1e6:.1f} us/event, mean envelope {size:.0f} bytes of JSON)"
    )
    print(f"json.loads reference: {m / dj:,.0f} events/s ({dj / m * 1e6:.1f} us/event)")


if __name__ == "__main__":
    main()
