// The event contract as the browser sees it (docs/events.md is the reference).

export const STAGES = [
  "PARSE_INTENT",
  "DATA_SOURCE",
  "PROFILE_DATA",
  "PREPROCESS",
  "MODEL_SELECT",
  "TRAIN",
  "REVIEW_EDIT",
  "EXPORT",
] as const;
export type Stage = (typeof STAGES)[number];
export type StageStatus = "pending" | "running" | "waiting" | "completed" | "failed" | "skipped";

export interface Envelope {
  type: "event";
  project_id: string;
  seq: number;
  ts: string;
  event: { name: string; payload: any };
}

export interface DatasetCandidate {
  id: string;
  source: string;
  license: string;
  verdict: string;
  reason: string;
  downloads: number | null;
  size: number | null;
  score: number;
}

export interface ModelCandidate {
  model: string;
  family: string;
  trainer: string;
  pros: string[];
  cons: string[];
  estimated_cost_s: number;
}

export interface Point {
  step: number;
  value: number;
}

export interface PathPoint {
  x: number;
  y: number;
  loss: number;
}

export interface TrialRun {
  run_id: string;
  model: string;
  params: Record<string, unknown>;
  status: "running" | string;
  metrics: Record<string, number>;
  step: number;
  steps: number;
  /** Wall time of the finished trial, in seconds. */
  duration_s?: number;
}

export interface LeaderboardRow {
  rank: number;
  run_id: string;
  model: string;
  score: number;
  params: Record<string, unknown>;
}

export interface Artifact {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

export interface Curve {
  x: number[];
  y: number[];
}

export interface Review {
  metrics: Record<string, number>;
  best_run_id: string;
  model: string;
  confusion_matrix: { labels: string[]; matrix: number[][] } | null;
  residuals: { mean: number; std: number; quantiles: number[] } | null;
  feature_importance: { feature: string; importance: number }[];
  n_test: number;
  misclassified?: { item: string; label: string; predicted: string; confidence: number }[];
  roc_curve?: Curve;
  pr_curve?: Curve;
  predicted_vs_actual?: { actual: number[]; predicted: number[] };
  /** Forecasters: per series the history tail, the actual test window and the forecast. */
  forecast?: ForecastPlot;
}

export interface ForecastPlotSeries {
  name: string;
  history_time: string[];
  history: number[];
  test_time: string[];
  actual: number[];
  forecast: number[];
  metrics: Record<string, number>;
}

export interface ForecastPlot {
  horizon: number;
  series: ForecastPlotSeries[];
  n_series: number;
}

/** One row of GET /api/projects. */
export interface ProjectSummary {
  id: string;
  prompt: string | null;
  status: "queued" | "running" | "finished" | "cancelled" | "failed" | string;
  started: string | null;
  finished: string | null;
  model: string | null;
  metric: { name: string; value: number } | null;
  events: number;
}
