// What the panels show, derived from the folded state. Pure functions, unit-tested beside the
// fold (reduce.test.ts), so a panel only draws.

import type { ProjectState } from "./reduce";
import type { LeaderboardRow, Point, Review } from "./types";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#c026d3"];

/** The colour of the i-th trial (stable for a trial: its order of start). */
export function trialColor(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** The best trial: the leaderboard's first, else the review's, else the latest started. */
export function bestRunId(s: ProjectState): string | null {
  const ids = Object.keys(s.runs);
  return s.leaderboard?.rows[0]?.run_id ?? s.review?.best_run_id ?? ids[ids.length - 1] ?? null;
}

/**
 * The run whose curves stand for "the best": the best run itself when it has curves; for an
 * ensemble (it trains nothing, so it has none) its heaviest member that has curves; else the
 * best-ranked run with curves.
 */
export function curveRunId(s: ProjectState): string | null {
  const best = bestRunId(s);
  const hasCurves = (r: string) => Object.values(s.curves[r] ?? {}).some((pts) => pts.length > 0);
  if (!best || hasCurves(best)) return best;
  const rows = s.leaderboard?.rows ?? [];
  const members = rows.find((r) => r.run_id === best)?.params?.members;
  if (Array.isArray(members)) {
    const heaviest = members
      .filter((m): m is { run_id: string; weight: number } => typeof m?.run_id === "string")
      .sort((a, b) => (b.weight ?? 0) - (a.weight ?? 0))
      .find((m) => hasCurves(m.run_id));
    if (heaviest) return heaviest.run_id;
  }
  return rows.map((r) => r.run_id).find(hasCurves) ?? best;
}

/** Metric names that have curves, loss first. */
export function curveMetrics(s: ProjectState): string[] {
  const names = new Set<string>();
  for (const byKey of Object.values(s.curves)) {
    for (const [key, pts] of Object.entries(byKey)) {
      // A metric with one point per trial (a final score) is no curve.
      if (pts.length > 1) names.add(key.slice(0, key.lastIndexOf("/")));
    }
  }
  return [...names].sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)));
}

/** "best", "all", or a run id. */
export type TrialPick = string;

export interface CurveSeries {
  key: string;
  label: string;
  points: Point[];
  color: string;
  dashed: boolean;
  faint: boolean;
}

/** The curves of `metric` for the picked trials: train solid, validation dashed. */
export function curveSeries(s: ProjectState, metric: string, pick: TrialPick): CurveSeries[] {
  const order = Object.keys(s.runs);
  for (const r of Object.keys(s.curves)) if (!order.includes(r)) order.push(r);
  const best = curveRunId(s);
  const runs = pick === "all" ? order : [pick === "best" ? best : pick].filter((r): r is string => !!r);
  const out: CurveSeries[] = [];
  for (const run of runs) {
    const byKey = s.curves[run] ?? {};
    for (const [key, pts] of Object.entries(byKey)) {
      const slash = key.lastIndexOf("/");
      if (key.slice(0, slash) !== metric || pts.length === 0) continue;
      const split = key.slice(slash + 1);
      out.push({
        key: `${run}/${split}`,
        label: `${run} ${s.runs[run]?.model ?? ""} ${split}`.replace(/\s+/g, " "),
        points: pts,
        color: trialColor(order.indexOf(run)),
        dashed: split !== "train",
        faint: pick === "all" && run !== best,
      });
    }
  }
  return out;
}

/** True for boosted or other tree models (their progress is rounds, not a descent path). */
export function isTreeRun(s: ProjectState, runId: string | null): boolean {
  if (!runId) return false;
  const model = s.runs[runId]?.model ?? "";
  const family = s.models.find((m) => m.model === model)?.family ?? "";
  return /tree|forest|boost/.test(family) || /gbdt|forest|tree|boost|xgb|lightgbm/.test(model);
}

/** The validation loss per boosting round of a tree trial, and the round where it was lowest. */
export function boostingRounds(s: ProjectState, runId: string): { points: Point[]; best: Point | null } {
  const points = s.curves[runId]?.["loss/valid"] ?? [];
  let best: Point | null = null;
  for (const p of points) if (isFinite(p.value) && (best === null || p.value < best.value)) best = p;
  return { points, best };
}

export type LeaderSort = { by: "score" | "time"; descending: boolean };

export interface LeaderLine extends LeaderboardRow {
  duration_s: number | null;
}

/** Leaderboard rows with their trial's wall time, sorted by score (rank) or by time. */
export function sortedLeaderboard(s: ProjectState, sort: LeaderSort): LeaderLine[] {
  const rows: LeaderLine[] = (s.leaderboard?.rows ?? []).map((r) => ({ ...r, duration_s: s.runs[r.run_id]?.duration_s ?? null }));
  const key = (r: LeaderLine) => (sort.by === "score" ? r.rank : r.duration_s ?? Infinity);
  rows.sort((a, b) => key(a) - key(b) || a.rank - b.rank);
  if (sort.descending) rows.reverse();
  return rows;
}

/** `k=v` pairs of a trial's parameters, in one short line. */
export function paramLine(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === "number" ? String(Number(v.toPrecision(4))) : typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
}

/** Regression plots: predicted vs actual, and residual (actual − predicted) vs predicted. */
export function regressionPoints(r: Review | null): { pva: { x: number; y: number }[]; residuals: { x: number; y: number }[] } {
  const s = r?.predicted_vs_actual;
  if (!s) return { pva: [], residuals: [] };
  const n = Math.min(s.actual.length, s.predicted.length);
  const pva = [];
  const residuals = [];
  for (let i = 0; i < n; i++) {
    pva.push({ x: s.actual[i], y: s.predicted[i] });
    residuals.push({ x: s.predicted[i], y: s.actual[i] - s.predicted[i] });
  }
  return { pva, residuals };
}

/** A forecaster's plot as lines per series: history (solid grey), actual test window (solid),
 * forecast (dashed), on one step axis (the test window continues the history; the forecast
 * starts from the last history point so the lines join). Empty for other models. */
export function forecastLines(r: Review | null): {
  name: string;
  mase: number | null;
  firstTest: string;
  lines: { key: string; label: string; points: Point[]; color: string; dashed?: boolean }[];
}[] {
  const plot = r?.forecast;
  if (!plot) return [];
  return plot.series.map((s) => {
    const n = s.history.length;
    const history = s.history.map((value, step) => ({ step, value }));
    const join = n > 0 ? [{ step: n - 1, value: s.history[n - 1] }] : [];
    const actual = [...join, ...s.actual.map((value, i) => ({ step: n + i, value }))];
    const forecast = [...join, ...s.forecast.map((value, i) => ({ step: n + i, value }))];
    return {
      name: s.name,
      mase: s.metrics?.mase ?? null,
      firstTest: s.test_time[0] ?? "",
      lines: [
        { key: "history", label: "history", points: history, color: "#4b5563" },
        { key: "actual", label: "actual (test)", points: actual, color: "#16a34a" },
        { key: "forecast", label: "forecast", points: forecast, color: "#2563eb", dashed: true },
      ],
    };
  });
}

/** The share of the positive (second) class among test rows: the chance level of precision. */
export function positiveShare(r: Review | null): number | null {
  const m = r?.confusion_matrix?.matrix;
  if (!m || m.length !== 2) return null;
  const total = m.flat().reduce((a, b) => a + b, 0);
  return total > 0 ? m[1].reduce((a, b) => a + b, 0) / total : null;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** The address of a project: `#/projects/<id>`. */
export function projectHref(id: string): string {
  return `#/projects/${encodeURIComponent(id)}`;
}

/** The project an address names (`#/projects/<id>`, or the older `#<id>`), if any. */
export function projectFromHash(hash: string): string | null {
  let h = hash.replace(/^#/, "");
  if (h.startsWith("/projects/")) h = h.slice("/projects/".length);
  try {
    h = decodeURIComponent(h);
  } catch {
    return null;
  }
  return ID.test(h) ? h : null;
}
