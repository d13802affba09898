"""Rows in memory reach the core as Arrow (pandas, pyarrow, polars), column types kept; models
predict from every file format the core reads and from Arrow tables, with the core's labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import automl


def payload(result, name):
    return next(e["event"]["payload"] for e in result.events if e["event"]["name"] == name)


def iris_with_site(iris, categorical: bool) -> pd.DataFrame:
    df = pd.read_csv(iris)
    codes = np.arange(len(df)) % 7 + 100  # integer codes 100..106
    df["site"] = pd.Categorical(codes) if categorical else codes
    return df


def run_small(data, conductor, **kw):
    return automl.run("classify species", data, target="species", time_budget=10, seed=0,
                      max_trials=1, progress=False, conductor=conductor, **kw)


def test_pandas_category_of_integer_codes_stays_categorical(iris, conductor):
    r = run_small(iris_with_site(iris, categorical=True), conductor)
    site = next(c for c in payload(r, "PROFILE_READY")["columns"] if c["name"] == "site")
    assert site["kind"] == "categorical", site
    # The run names the DataFrame as its data, not a temporary file.
    selected = payload(r, "DATASET_SELECTED")
    assert "DataFrame" in json.dumps(selected), selected
    assert "data.csv" not in json.dumps(r.events)
    # The same codes as plain integers are numbers: the dtype, not the values, decided.
    plain = run_small(iris_with_site(iris, categorical=False), conductor)
    site = next(c for c in payload(plain, "PROFILE_READY")["columns"] if c["name"] == "site")
    assert site["kind"] == "numeric", site
    # Predicting from a DataFrame with the category column goes through Arrow too.
    df = iris_with_site(iris, categorical=True).drop(columns=["species"])
    assert r.model.predict(df).shape == (150,)


def test_pyarrow_table_and_filtered_pandas(iris, conductor):
    df = pd.read_csv(iris)
    r = run_small(pa.Table.from_pandas(df), conductor)
    assert r.status == "finished" and r.metrics["accuracy"] >= 0.8
    assert "Table" in json.dumps(payload(r, "DATASET_SELECTED"))
    # A filtered frame has a non-default index; it must not become a column.
    sub = df[df["sepal_length"] > 0].iloc[::-1]
    r2 = run_small(sub, conductor)
    names = [c["name"] for c in payload(r2, "PROFILE_READY")["columns"]]
    assert not any("index" in n for n in names), names
    # A pyarrow RecordBatchReader (a one-shot stream of several batches) works as well.
    table = pa.Table.from_pandas(df.drop(columns=["species"]), preserve_index=False)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=40))
    np.testing.assert_array_equal(r.model.predict(reader), r.model.predict(table))


def test_polars_dataframe(iris, conductor):
    pl = pytest.importorskip("polars")
    df = pl.read_csv(str(iris))
    r = run_small(df, conductor)
    assert r.status == "finished" and r.metrics["accuracy"] >= 0.8
    assert "DataFrame" in json.dumps(payload(r, "DATASET_SELECTED"))
    pred = r.model.predict(df.drop("species"))
    assert pred.shape == (150,)
    assert np.mean(pred == df["species"].to_numpy()) >= 0.8


def test_predict_from_every_file_format(iris, conductor, tmp_path):
    r = run_small(iris, conductor)
    m = automl.load(r.run_dir)
    df = pd.read_csv(iris).drop(columns=["species"])
    table = pa.Table.from_pandas(df, preserve_index=False)
    expected = m.predict(df)
    assert expected.dtype == object and set(expected) <= set(m.classes_)
    pq.write_table(table, tmp_path / "x.parquet")
    feather.write_feather(table, tmp_path / "x.arrow", compression="uncompressed")
    df.to_csv(tmp_path / "x.csv", index=False)
    df.to_csv(tmp_path / "x.tsv", index=False, sep="\t")
    df.to_json(tmp_path / "x.ndjson", orient="records", lines=True)
    for name in ["x.parquet", "x.arrow", "x.csv", "x.tsv", "x.ndjson"]:
        got = m.predict(tmp_path / name)
        np.testing.assert_array_equal(got, expected, err_msg=name)
    np.testing.assert_allclose(m.predict_proba(str(tmp_path / "x.parquet")), m.predict_proba(df))
    # The labels are the core's: the arg-max of the probabilities, in `classes_` terms.
    proba = m.predict_proba(df)
    np.testing.assert_array_equal(m.classes_[proba.argmax(axis=1)], expected)


def test_prediction_report_becomes_a_warning(iris, conductor):
    r = run_small(iris, conductor)
    df = pd.read_csv(iris).drop(columns=["species", "petal_width"])
    with pytest.warns(UserWarning, match="petal_width"):
        assert r.model.predict(df).shape == (150,)


def test_task_and_metric(diabetes, iris, conductor):
    # The task comes from the caller, not the prompt's words: integer labels, neutral prompt.
    df = pd.read_csv(diabetes)
    df["high"] = (df["progression"] > df["progression"].median()).astype(int)
    df = df.drop(columns=["progression"])
    r = automl.run("predict high", df, target="high", task="classification", metric="log_loss",
                   time_budget=10, max_trials=1, progress=False, conductor=conductor)
    assert r.model.task == "classification"
    assert payload(r, "PROFILE_READY")["task"] == "classification"
    assert any(e["event"]["name"] == "LEADERBOARD_UPDATED" and e["event"]["payload"].get("metric") == "log_loss"
               for e in r.events)
    with pytest.raises(automl.OptionError) as e:
        automl.run("classify species", iris, target="species", metric="foo", progress=False,
                   conductor=conductor)
    assert e.value.category == "invalid_option" and e.value.user_error is True
    with pytest.raises(automl.OptionError):
        automl.run("classify species", iris, target="species", task="clustering", progress=False,
                   conductor=conductor)
    with pytest.raises(automl.OptionError):
        automl.run("classify species", iris, task="classification", metric="rmse", progress=False,
                   conductor=conductor)
