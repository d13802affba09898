#!/usr/bin/env python3
"""Does a k-NN pay on small data? For each dev-group set of broad.py under --max-rows rows,
on its seed-0 split: k-NN (standardised numbers, one-hot categories, k chosen by 5-fold CV on
the training rows from 5/15/30, distance-weighted) against the same preprocessing with a
linear model and HistGradientBoosting (stand-ins for our linear and GBDT families), scored on
the test rows with broad.py's metric. Prints one table; used for decisions/0084.

    ~/.cache/automl-peers/bin/python bench/tabular/knn_probe.py --max-rows 5000
"""
import argparse, json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broad  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-rows", type=int, default=5000)
    ap.add_argument("--group", default="dev", choices=["dev", "held_out"])
    a = ap.parse_args()
    import numpy as np, pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    names = list(broad.SETS) + list(broad.SHARED_SETS)
    rows = []
    for name in names:
        if ("held_out" if broad.held_out(name) else "dev") != a.group:
            continue
        ds = broad.materialise(name, [0])
        if ds["rows"] > a.max_rows:
            continue
        df = pd.read_csv(ds["path"])
        test = json.load(open(ds["splits"][0][1]))["test"]
        te = df.iloc[test]
        tr = df.drop(index=test)
        y_tr, y_te = tr.pop(ds["target"]), te.drop(columns=[]).pop(ds["target"])
        te = te.drop(columns=[ds["target"]])
        num = [c for c in tr.columns if pd.api.types.is_numeric_dtype(tr[c])]
        cat = [c for c in tr.columns if c not in num and tr[c].nunique() <= 50]
        pre = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), num),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="ignore")), cat)])
        reg = ds["task"] == "regression"
        knn = KNeighborsRegressor(weights="distance") if reg else KNeighborsClassifier(weights="distance")
        lin = Ridge() if reg else LogisticRegression(max_iter=2000)
        hgb = HistGradientBoostingRegressor() if reg else HistGradientBoostingClassifier()

        def score(model):
            if reg:
                return r2_score(y_te, model.predict(te))
            if ds["task"] == "binary":
                return roc_auc_score(y_te.astype(str) == sorted(y_tr.astype(str).unique())[1],
                                     model.predict_proba(te)[:, 1])
            return accuracy_score(y_te.astype(str), model.predict(te).astype(str))

        out = {"set": name, "task": ds["task"], "rows": ds["rows"]}
        for label, est in [("knn", knn), ("linear", lin), ("hgb", hgb)]:
            p = make_pipeline(pre, est)
            if label == "knn":
                p = GridSearchCV(p, {"kneighborsregressor__n_neighbors" if reg else
                                     "kneighborsclassifier__n_neighbors": [5, 15, 30]}, cv=5)
            t0 = time.perf_counter()
            try:
                p.fit(tr, y_tr if reg else y_tr.astype(str))
                out[label] = score(p)
            except Exception as e:  # a set a stand-in cannot fit is reported, not hidden
                out[label] = float("nan")
                print(f"{name} {label}: {e}", file=sys.stderr)
            out[label + "_s"] = time.perf_counter() - t0
        rows.append(out)
        print(f"| {name} | {ds['task']} | {ds['rows']} | {out['knn']:.4f} | {out['linear']:.4f} | "
              f"{out['hgb']:.4f} | {'yes' if out['knn'] > max(out['linear'], out['hgb']) else 'no'} |",
              flush=True)
    wins = sum(r["knn"] > max(r["linear"], r["hgb"]) for r in rows)
    print(f"k-NN best on {wins} of {len(rows)} sets")


if __name__ == "__main__":
    main()
