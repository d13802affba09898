"""The scikit-learn estimators inside cross-validation and pipelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import automl


def test_cross_val_score_classifier(iris):
    df = pd.read_csv(iris)
    X, y = df.drop(columns=["species"]), df["species"]
    scores = cross_val_score(automl.AutoClassifier(time_budget=10, max_trials=3), X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() >= 0.8, scores


def test_pipeline_with_numpy_and_int_labels(iris):
    df = pd.read_csv(iris)
    X = df.drop(columns=["species"]).to_numpy()
    y = pd.factorize(df["species"])[0]  # 0, 1, 2 as integers
    est = make_pipeline(StandardScaler(), automl.AutoClassifier(time_budget=10, max_trials=3))
    est.fit(X, y)
    pred = est.predict(X)
    assert pred.dtype.kind in "iu" and set(pred) <= {0, 1, 2}
    assert est.score(X, y) >= 0.85
    proba = est.predict_proba(X)
    assert proba.shape == (150, 3)
    clf = est[-1]
    assert list(clf.classes_) == [0, 1, 2] and clf.n_features_in_ == 4


def test_regressor(diabetes):
    df = pd.read_csv(diabetes)
    X, y = df.drop(columns=["progression"]), df["progression"]
    reg = automl.AutoRegressor(time_budget=10, max_trials=3).fit(X, y)
    assert reg.score(X, y) > 0.3
    assert reg.predict(X.head(5)).shape == (5,)
    assert clone(reg).get_params() == reg.get_params()
    with pytest.raises(ValueError):
        reg.predict(X.drop(columns=["bmi"]).rename(columns={"age": "AGE"}))


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        automl.AutoClassifier().predict(np.zeros((2, 2)))


def test_task_is_explicit_and_metric_is_passed(diabetes):
    # Integer labels and no task words in any prompt: the estimator's task decides.
    df = pd.read_csv(diabetes)
    X = df.drop(columns=["progression"])
    y = (df["progression"] > df["progression"].median()).astype(int)
    clf = automl.AutoClassifier(time_budget=10, max_trials=2, metric="log_loss").fit(X, y)
    assert clf.model_.task == "classification" and list(clf.classes_) == [0, 1]
    assert clf.result_.intent is not None
    boards = [e["event"]["payload"] for e in clf.result_.events
              if e["event"]["name"] == "LEADERBOARD_UPDATED"]
    assert boards and all(b["metric"] == "log_loss" for b in boards)
    assert clone(clf).get_params()["metric"] == "log_loss"
    assert set(clf.predict(X.head(10))) <= {0, 1}
    with pytest.raises(automl.OptionError):
        automl.AutoRegressor(time_budget=5, metric="accuracy").fit(X, df["progression"])
