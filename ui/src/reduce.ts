// The fold of a project's events into what the UI shows. Pure: the same events give the same
// state, whether they arrive live, after a reconnect, or replayed after a server restart.

import {
  STAGES,
  type Artifact,
  type DatasetCandidate,
  type Envelope,
  type LeaderboardRow,
  type ModelCandidate,
  type PathPoint,
  type Point,
  type Review,
  type Stage,
  type StageStatus,
  type TrialRun,
} from "./types";

export interface ProjectState {
  projectId: string | null;
  lastSeq: number;
  stages: Record<Stage, { status: StageStatus; message: string }>;
  intent: any | null;
  candidates: DatasetCandidate[];
  rejected: DatasetCandidate[];
  selected: any | null;
  sample: any | null;
  profile: any | null;
  preprocess: any | null;
  models: ModelCandidate[];
  runs: Record<string, TrialRun>;
  /** run_id -> "name/split" -> points */
  curves: Record<string, Record<string, Point[]>>;
  paths: Record<string, PathPoint[]>;
  /** The run whose path was updated last. */
  lastPathRun: string | null;
  leaderboard: { metric: string; higher_is_better: boolean; rows: LeaderboardRow[] } | null;
  review: Review | null;
  artifacts: Artifact[];
  warnings: { code: string; message: string; seq: number }[];
  error: { code: string; message: string; stage: string | null } | null;
  outcome: { kind: "finished" | "cancelled"; message: string; metrics: Record<string, number> } | null;
}

export function emptyState(projectId: string | null = null): ProjectState {
  const stages = {} as ProjectState["stages"];
  for (const s of STAGES) stages[s] = { status: "pending", message: "" };
  return {
    projectId,
    lastSeq: 0,
    stages,
    intent: null,
    candidates: [],
    rejected: [],
    selected: null,
    sample: null,
    profile: null,
    preprocess: null,
    models: [],
    runs: {},
    curves: {},
    paths: {},
    lastPathRun: null,
    leaderboard: null,
    review: null,
    artifacts: [],
    warnings: [],
    error: null,
    outcome: null,
  };
}

/** Applies one envelope. Envelopes at or below `lastSeq` are ignored (already applied). */
export function reduce(s: ProjectState, env: Envelope): ProjectState {
  if (env.type !== "event" || env.seq <= s.lastSeq) return s;
  if (s.projectId !== null && env.project_id !== s.projectId) return s;
  const p = env.event.payload ?? {};
  const n: ProjectState = { ...s, lastSeq: env.seq };
  switch (env.event.name) {
    case "STAGE_STATUS":
      if ((STAGES as readonly string[]).includes(p.stage)) {
        n.stages = { ...s.stages, [p.stage]: { status: p.status, message: p.message ?? "" } };
      }
      break;
    case "PROMPT_PARSED":
      n.intent = p;
      break;
    case "DATASET_CANDIDATES":
      n.candidates = p.candidates ?? [];
      n.rejected = p.rejected ?? [];
      break;
    case "DATASET_SELECTED":
      n.selected = p;
      break;
    case "DATASET_SAMPLE_READY":
      n.sample = p;
      break;
    case "PROFILE_READY":
      n.profile = p;
      break;
    case "PREPROCESS_READY":
      n.preprocess = p;
      break;
    case "MODEL_CANDIDATES":
      n.models = p.candidates ?? [];
      break;
    case "TRAIN_RUN_STARTED":
      n.runs = {
        ...s.runs,
        [p.run_id]: { run_id: p.run_id, model: p.model, params: p.params ?? {}, status: "running", metrics: {}, step: 0, steps: 0 },
      };
      break;
    case "TRAIN_PROGRESS": {
      const r = s.runs[p.run_id];
      if (r) n.runs = { ...s.runs, [p.run_id]: { ...r, step: p.step, steps: p.steps } };
      break;
    }
    case "TRAIN_RUN_FINISHED": {
      const r = s.runs[p.run_id] ?? { run_id: p.run_id, model: p.model, params: {}, step: 0, steps: 0 };
      n.runs = {
        ...s.runs,
        [p.run_id]: { ...r, model: p.model, status: p.status ?? "completed", metrics: p.metrics ?? {}, duration_s: p.duration_s },
      };
      break;
    }
    case "METRIC_SCALAR": {
      const key = `${p.name}/${p.split}`;
      const run = s.curves[p.run_id] ?? {};
      const pts = run[key] ?? [];
      n.curves = { ...s.curves, [p.run_id]: { ...run, [key]: [...pts, { step: p.step, value: p.value }] } };
      break;
    }
    case "GD_PATH_UPDATE":
      // Each update carries the whole path, re-projected as the trajectory grows.
      n.paths = { ...s.paths, [p.run_id]: p.points ?? [] };
      n.lastPathRun = p.run_id;
      break;
    case "LEADERBOARD_UPDATED":
      n.leaderboard = p;
      break;
    case "REVIEW_READY":
      n.review = p;
      break;
    case "NOTEBOOK_READY":
    case "EXPORT_READY": {
      const names = new Set((p.artifacts ?? []).map((a: Artifact) => a.name));
      n.artifacts = [...s.artifacts.filter((a) => !names.has(a.name)), ...(p.artifacts ?? [])];
      break;
    }
    case "WARNING":
      n.warnings = [...s.warnings, { code: p.code, message: p.message, seq: env.seq }];
      break;
    case "ERROR":
      n.error = { code: p.code, message: p.message, stage: p.stage ?? null };
      break;
    case "RUN_FINISHED":
      n.outcome = { kind: "finished", message: p.message, metrics: p.metrics ?? {} };
      break;
    case "RUN_CANCELLED":
      n.outcome = { kind: "cancelled", message: p.message, metrics: p.metrics ?? {} };
      break;
    default:
      break;
  }
  return n;
}

export function isEnded(s: ProjectState): boolean {
  return s.outcome !== null || s.error !== null;
}
