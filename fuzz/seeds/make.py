"""Writes the fuzzers' seed files into fuzz/seeds/<target>/ (small, committed).

A seed shows libFuzzer a well-formed file of each format, so that mutations start inside the
parser rather than at its magic-number check (zip_load reached 110 edges and parquet_load 377
in 25 s without seeds). Needs pyarrow for the Parquet seeds:
`python3 -m venv /tmp/pq && /tmp/pq/bin/pip install pyarrow && /tmp/pq/bin/python fuzz/seeds/make.py`.
"""
import csv
import io
import json
import pathlib
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def rows(n=12):
    with open(ROOT / "datasets/tabular/diabetes.csv") as f:
        r = list(csv.DictReader(f))[:n]
    out = []
    for i, row in enumerate(r):
        out.append({
            "age": float(row["age"]) if i % 5 else None,
            "sex": "m" if row["sex"] == "1.0" else "f",
            "bmi": float(row["bmi"]),
            "visits": i,
            "seen": f"2024-01-{i + 1:02d}",
            "note": "follow up" if i % 3 else "",
            "progression": float(row["progression"]),
        })
    return out


def put(target, name, data):
    d = HERE / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    rs = rows()
    table = pa.Table.from_pylist(rs)
    for codec in ("none", "snappy"):
        buf = io.BytesIO()
        pq.write_table(table, buf, compression=codec, row_group_size=5)
        put("parquet_load", f"diabetes-{codec}.parquet", buf.getvalue())
    put("json_load", "records.json", json.dumps(rs).encode())
    put("json_load", "columns.json", json.dumps({k: [r[k] for r in rs] for k in rs[0]}).encode())
    put("ndjson_load", "rows.ndjson", "".join(json.dumps(r) + "\n" for r in rs).encode())
    # Zips hold image folders (one sub-folder per class); stored and deflated.
    for name, method in (("images-stored.zip", zipfile.ZIP_STORED), ("images-deflated.zip", zipfile.ZIP_DEFLATED)):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            for label in ("0", "1"):
                for png in sorted((ROOT / "datasets/images/digits" / label).glob("*.png"))[:2]:
                    z.write(png, f"digits/{label}/{png.name}")
        put("zip_load", name, buf.getvalue())
    briefs = [
        "Build a cat/dog classifier",
        "predict wine quality from this CSV, optimise RMSE, 30 seconds",
        "Forecast daily sales for the next 14 days per store",
        "classify sms messages as spam or ham; not a regression",
    ]
    for i, b in enumerate(briefs):
        put("prompt_parse", f"brief-{i}.txt", b.encode())


if __name__ == "__main__":
    main()
