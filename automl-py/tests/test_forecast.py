"""Forecasting from Python: a run with a horizon, then `load(...).predict(history, horizon=N)`."""

from __future__ import annotations

from pathlib import Path

import automl

SALES = Path(__file__).resolve().parents[2] / "datasets" / "timeseries" / "store_sales.csv"


def test_forecast_run_and_predict_with_a_horizon(conductor, tmp_path):
    h = conductor.start(
        "forecast daily sales for the next 14 days", SALES, time_budget=4, horizon=7
    )
    result = h.wait()
    assert result.status == "finished"
    assert "mase" in result.metrics
    model = automl.load(result.run_dir)
    assert model.is_forecaster
    rows = model.predict(SALES, horizon=3)
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert len(records) == 3 * 3
    assert list(records[0].keys()) == ["store", "date", "prediction"]
    assert records[0]["date"] == "2024-05-20"
    # Without a horizon, the trained one (7 steps) per store.
    assert len(model.forecast(SALES)) == 3 * 7
