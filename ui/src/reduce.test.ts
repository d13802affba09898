import { describe, expect, it } from "vitest";
import { linearTicks, logTicks, wantsLog } from "./charts";
import { emptyState, reduce } from "./reduce";
import type { Envelope } from "./types";
import {
  bestRunId,
  boostingRounds,
  curveMetrics,
  curveRunId,
  curveSeries,
  isTreeRun,
  paramLine,
  positiveShare,
  projectFromHash,
  projectHref,
  forecastLines,
  regressionPoints,
  sortedLeaderboard,
} from "./views";

const env = (seq: number, name: string, payload: any): Envelope => ({
  type: "event",
  project_id: "p",
  seq,
  ts: "2026-11-27T10:00:00.123Z",
  event: { name, payload },
});

const stream: Envelope[] = [
  env(1, "STAGE_STATUS", { stage: "TRAIN", status: "running", message: "go" }),
  env(2, "TRAIN_RUN_STARTED", { run_id: "r-1", model: "logreg", params: {} }),
  env(3, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "train", step: 1, value: 0.9 }),
  env(4, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "train", step: 2, value: 0.5 }),
  env(5, "GD_PATH_UPDATE", { run_id: "r-1", points: [{ x: 0, y: 0, loss: 0.9 }] }),
  env(6, "GD_PATH_UPDATE", { run_id: "r-1", points: [{ x: 1, y: 0, loss: 0.9 }, { x: 0, y: 1, loss: 0.5 }] }),
  env(7, "EXPORT_READY", { dir: "d", artifacts: [{ name: "model.json", path: "d/model.json", size: 3, sha256: "x" }] }),
  env(8, "RUN_FINISHED", { metrics: { accuracy: 1 }, model: "logreg", dir: "d", duration_s: 1, message: "done" }),
];

describe("reduce", () => {
  it("folds events into the view", () => {
    const s = stream.reduce(reduce, emptyState("p"));
    expect(s.lastSeq).toBe(8);
    expect(s.stages.TRAIN.status).toBe("running");
    expect(s.curves["r-1"]["loss/train"].map((p) => p.value)).toEqual([0.9, 0.5]);
    expect(s.paths["r-1"].map((p) => p.x)).toEqual([1, 0]); // the latest path replaces the last
    expect(s.artifacts.map((a) => a.name)).toEqual(["model.json"]);
    expect(s.outcome?.kind).toBe("finished");
  });

  it("ignores what it has already applied, so a resumed stream gives the same state", () => {
    const once = stream.reduce(reduce, emptyState("p"));
    // A reconnect that overlaps (seq 3..8 again) changes nothing.
    const twice = [...stream.slice(0, 4), ...stream.slice(2)].reduce(reduce, emptyState("p"));
    expect(twice).toEqual(once);
  });

  it("ignores other projects' events", () => {
    const s = reduce(emptyState("p"), { ...stream[0], project_id: "q" });
    expect(s.lastSeq).toBe(0);
  });
});

// A regression run: a linear trial, then a boosted-tree trial that wins; losses span decades.
const regression: Envelope[] = [
  env(1, "MODEL_CANDIDATES", { candidates: [{ model: "gbdt", family: "gradient_boosted_trees", trainer: "gbdt", pros: [], cons: [], estimated_cost_s: 1 }] }),
  env(2, "TRAIN_RUN_STARTED", { run_id: "r-1", model: "ridge", params: { alpha: 1.0 } }),
  env(3, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "train", step: 1, value: 1.5e7 }),
  env(4, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "train", step: 2, value: 2.0e6 }),
  env(5, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "valid", step: 2, value: 2.2e6 }),
  env(6, "TRAIN_RUN_FINISHED", { run_id: "r-1", model: "ridge", metrics: { rmse: 1400 }, duration_s: 0.4, status: "completed" }),
  env(7, "TRAIN_RUN_STARTED", { run_id: "r-2", model: "gbdt", params: { rounds: 200, depth: 6, learning_rate: 0.1 } }),
  env(8, "METRIC_SCALAR", { run_id: "r-2", name: "loss", split: "train", step: 1, value: 9e5 }),
  env(9, "METRIC_SCALAR", { run_id: "r-2", name: "loss", split: "valid", step: 1, value: 1e6 }),
  env(10, "METRIC_SCALAR", { run_id: "r-2", name: "loss", split: "valid", step: 2, value: 6e5 }),
  env(11, "METRIC_SCALAR", { run_id: "r-2", name: "loss", split: "valid", step: 3, value: 7e5 }),
  env(12, "METRIC_SCALAR", { run_id: "r-2", name: "rmse", split: "valid", step: 3, value: 780 }),
  env(13, "TRAIN_RUN_FINISHED", { run_id: "r-2", model: "gbdt", metrics: { rmse: 780 }, duration_s: 2.5, status: "completed" }),
  env(14, "LEADERBOARD_UPDATED", {
    metric: "rmse",
    higher_is_better: false,
    rows: [
      { rank: 1, run_id: "r-2", model: "gbdt", score: 780, params: { rounds: 200, depth: 6, learning_rate: 0.1 } },
      { rank: 2, run_id: "r-1", model: "ridge", score: 1400, params: { alpha: 1.0 } },
    ],
  }),
  env(15, "WARNING", { code: "slow", message: "budget nearly spent" }),
  env(16, "REVIEW_READY", {
    metrics: { r2: 0.9, rmse: 800, mae: 500 },
    best_run_id: "r-2",
    model: "gbdt",
    confusion_matrix: null,
    residuals: { mean: 0, std: 800, quantiles: [-1000, -300, 0, 300, 1000] },
    feature_importance: [{ feature: "carat", importance: 0.7 }, { feature: "clarity", importance: 0.3 }],
    n_test: 3,
    predicted_vs_actual: { actual: [300, 1200, 5000], predicted: [350, 1000, 5600] },
  }),
];

describe("training panel", () => {
  const s = regression.reduce(reduce, emptyState("p"));

  it("keeps trial times and warnings with their seq", () => {
    expect(s.runs["r-2"].duration_s).toBe(2.5);
    expect(s.warnings).toEqual([{ code: "slow", message: "budget nearly spent", seq: 15 }]);
  });

  it("offers metrics that have curves, loss first, and not one-point scores", () => {
    expect(curveMetrics(s)).toEqual(["loss"]);
  });

  it("shows the best trial by default, train solid and validation dashed", () => {
    expect(bestRunId(s)).toBe("r-2");
    const best = curveSeries(s, "loss", "best");
    expect(best.map((c) => [c.key, c.dashed, c.faint])).toEqual([
      ["r-2/train", false, false],
      ["r-2/valid", true, false],
    ]);
    const all = curveSeries(s, "loss", "all");
    expect(all.map((c) => [c.key, c.faint])).toEqual([
      ["r-1/train", true],
      ["r-1/valid", true],
      ["r-2/train", false],
      ["r-2/valid", false],
    ]);
    // A trial keeps its colour whichever way it is picked.
    expect(curveSeries(s, "loss", "r-1")[0].color).toBe(all[0].color);
  });

  it("puts losses that span decades on a log axis", () => {
    const values = curveSeries(s, "loss", "all").flatMap((c) => c.points.map((p) => p.value));
    expect(wantsLog(values)).toBe(true);
    expect(wantsLog([0.9, 0.5, 0.3])).toBe(false);
    expect(wantsLog([2.0, 0.05])).toBe(true);
    expect(wantsLog([0, 10, 1000])).toBe(false);
    expect(logTicks(6e5, 1.5e7)).toEqual([1e6, 2e6, 5e6, 1e7]);
    expect(linearTicks(0, 1)).toEqual([0, 0.5, 1]);
    expect(linearTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it("shows boosting rounds for tree trials instead of a descent path", () => {
    expect(isTreeRun(s, "r-2")).toBe(true);
    expect(isTreeRun(s, "r-1")).toBe(false);
    const rounds = boostingRounds(s, "r-2");
    expect(rounds.points.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(rounds.best).toEqual({ step: 2, value: 6e5 });
  });

  it("sorts the leaderboard by score or by time, parameters folded into one line", () => {
    const ids = (by: "score" | "time", descending = false) => sortedLeaderboard(s, { by, descending }).map((r) => r.run_id);
    expect(ids("score")).toEqual(["r-2", "r-1"]);
    expect(ids("score", true)).toEqual(["r-1", "r-2"]);
    expect(ids("time")).toEqual(["r-1", "r-2"]);
    expect(sortedLeaderboard(s, { by: "time", descending: false })[0].duration_s).toBe(0.4);
    expect(paramLine({ rounds: 200, learning_rate: 0.123456, grow: { depth: 6 } })).toBe('rounds=200, learning_rate=0.1235, grow={"depth":6}');
  });
});

describe("review panel", () => {
  it("draws predicted vs actual and residuals for a regression", () => {
    const s = regression.reduce(reduce, emptyState("p"));
    const { pva, residuals } = regressionPoints(s.review);
    expect(pva).toEqual([{ x: 300, y: 350 }, { x: 1200, y: 1000 }, { x: 5000, y: 5600 }]);
    expect(residuals.map((r) => r.y)).toEqual([-50, 200, -600]);
    expect(positiveShare(s.review)).toBeNull();
  });

  it("keeps ROC and precision-recall curves of a binary classification", () => {
    const s = reduce(
      emptyState("p"),
      env(1, "REVIEW_READY", {
        metrics: { accuracy: 0.9, roc_auc: 0.95 },
        best_run_id: "r-1",
        model: "logistic_regression",
        confusion_matrix: { labels: ["no", "yes"], matrix: [[6, 1], [1, 2]] },
        residuals: null,
        feature_importance: [],
        n_test: 10,
        roc_curve: { x: [0, 0, 1], y: [0, 0.5, 1] },
        pr_curve: { x: [0.5, 1], y: [1, 0.3] },
      }),
    );
    expect(s.review?.roc_curve?.y).toEqual([0, 0.5, 1]);
    expect(s.review?.pr_curve?.x).toEqual([0.5, 1]);
    expect(positiveShare(s.review)).toBeCloseTo(0.3);
    expect(regressionPoints(s.review).pva).toEqual([]);
  });
});

describe("forecast review", () => {
  it("draws history, actual and a dashed forecast joined at the last history step", () => {
    const s = reduce(
      emptyState("p"),
      env(1, "REVIEW_READY", {
        metrics: { mase: 0.8 },
        best_run_id: "r-3",
        model: "ets_damped",
        confusion_matrix: null,
        residuals: null,
        feature_importance: [],
        n_test: 2,
        forecast: {
          horizon: 2,
          n_series: 1,
          series: [
            {
              name: "store=a",
              history_time: ["2024-01-01", "2024-01-02", "2024-01-03"],
              history: [1, 2, 3],
              test_time: ["2024-01-04", "2024-01-05"],
              actual: [4, 5],
              forecast: [3.5, 4.5],
              metrics: { mase: 0.5 },
            },
          ],
        },
      }),
    );
    const [f] = forecastLines(s.review);
    expect(f.name).toBe("store=a");
    expect(f.mase).toBe(0.5);
    expect(f.firstTest).toBe("2024-01-04");
    const byKey = Object.fromEntries(f.lines.map((l) => [l.key, l]));
    expect(byKey.history.points.map((p) => p.step)).toEqual([0, 1, 2]);
    expect(byKey.actual.points).toEqual([{ step: 2, value: 3 }, { step: 3, value: 4 }, { step: 4, value: 5 }]);
    expect(byKey.forecast.points.map((p) => p.value)).toEqual([3, 3.5, 4.5]);
    expect(byKey.forecast.dashed).toBe(true);
    expect(forecastLines(null)).toEqual([]);
  });
});

describe("project addresses", () => {
  it("name the project in the hash, and read the older form too", () => {
    expect(projectHref("p-1")).toBe("#/projects/p-1");
    expect(projectFromHash("#/projects/p-1")).toBe("p-1");
    expect(projectFromHash("#p-1")).toBe("p-1");
    expect(projectFromHash("#/projects/../etc")).toBeNull();
    expect(projectFromHash("")).toBeNull();
  });
});

describe("an ensemble at the top of the leaderboard", () => {
  const events: Envelope[] = [
    env(1, "TRAIN_RUN_STARTED", { run_id: "r-1", model: "gbdt", params: {} }),
    env(2, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "valid", step: 1, value: 0.9 }),
    env(3, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "valid", step: 2, value: 0.5 }),
    env(4, "TRAIN_RUN_STARTED", { run_id: "r-2", model: "gbdt", params: {} }),
    env(5, "METRIC_SCALAR", { run_id: "r-2", name: "loss", split: "valid", step: 1, value: 0.8 }),
    env(6, "METRIC_SCALAR", { run_id: "r-2", name: "loss", split: "valid", step: 2, value: 0.4 }),
    env(7, "LEADERBOARD_UPDATED", {
      metric: "accuracy",
      higher_is_better: true,
      rows: [
        {
          rank: 1,
          run_id: "r-3",
          model: "ensemble",
          score: 0.97,
          params: { members: [{ run_id: "r-1", model: "gbdt", weight: 0.2 }, { run_id: "r-2", model: "gbdt", weight: 0.8 }] },
        },
        { rank: 2, run_id: "r-1", model: "gbdt", score: 0.96, params: {} },
      ],
    }),
  ];
  const s = events.reduce(reduce, emptyState("p"));
  it("draws the curves of its heaviest member, which trained", () => {
    expect(bestRunId(s)).toBe("r-3");
    expect(curveRunId(s)).toBe("r-2");
    const series = curveSeries(s, "loss", "best");
    expect(series.map((x) => x.key)).toEqual(["r-2/valid"]);
  });
});
