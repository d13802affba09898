"""Writes a CSV of N rows (default 1,000,000) by repeating datasets/tabular/adult.csv's rows.

python3 bench/data/gen.py OUT.csv [N]
"""
import sys
from pathlib import Path

src = Path(__file__).resolve().parents[2] / "datasets" / "tabular" / "adult.csv"
out = Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
header, rows = lines[0], lines[1:]
with out.open("w", encoding="utf-8") as f:
    f.write(header)
    full, rest = divmod(n, len(rows))
    for _ in range(full):
        f.writelines(rows)
    f.writelines(rows[:rest])
