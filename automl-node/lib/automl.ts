// automl for Node.js: a plain-language request in, a trained, evaluated and exported model out,
// with every step streamed as the same events the CLI, the server and the browser see.
//
//     import { run } from 'automl'
//     const r = await run('classify iris species', { timeBudget: 10 })
//     r.metrics.accuracy; r.leaderboard; await r.model!.predict(rows)
//
// The engine is Rust (automl-core); `index.js` is the native addon (napi-rs). This file is the
// friendly layer over it, the twin of automl-py's `_api.py`: each function converts its
// arguments, calls the addon (whose work runs on one tokio runtime, off the event loop) and
// wraps what comes back. Core values arrive as their JSON text.

import * as native from '../index'
import { Cancelled, fromNative, mapped, mappedAsync } from './errors'

export {
  AutomlError,
  Cancelled,
  DataError,
  DatasetNotFound,
  LicenseError,
  LicenseError as LicenceError,
  ModelLoadError,
  OptionError,
  PromptError,
  TrainingError,
  fromNative,
} from './errors'
export type { ErrorCategory } from './errors'

/** The version of automl (crate, wheel and npm package share it). */
export const version: string = native.version()

/** The eight stages of a run. */
export type Stage =
  | 'PARSE_INTENT'
  | 'DATA_SOURCE'
  | 'PROFILE'
  | 'PREPROCESS'
  | 'MODEL_SELECT'
  | 'TRAIN'
  | 'REVIEW_EDIT'
  | 'EXPORT'

/** One event in its envelope: the JSON of the WebSocket and of `events.jsonl` (docs/events.md). */
export interface Envelope {
  type: 'event'
  project_id: string
  /** 1, 2, 3... per run, no gaps. */
  seq: number
  /** UTC time, RFC 3339. */
  ts: string
  event: { name: string; payload: any }
}

/** A trial on the leaderboard. */
export interface LeaderboardRow {
  rank: number
  run_id: string
  model: string
  score: number
  params: Record<string, unknown>
}

/** A file written by EXPORT. */
export interface Artifact {
  name: string
  path: string
  size: number
  sha256: string
}

/** How a run ended, as the core serialises it (`RunOutcome`). */
export interface Outcome {
  project_id: string
  status: 'finished' | 'cancelled'
  metrics: Record<string, number>
  model: string | null
  run_dir: string
  artifacts: Artifact[]
  intent: Record<string, any> | null
  leaderboard: LeaderboardRow[]
  sinks: Record<string, unknown>[]
}

/** Rows for a run or a prediction: a file path, an array of row objects, or an Arrow IPC buffer. */
export type Data = string | Record<string, unknown>[] | Uint8Array

/** Options of `new Conductor()`. */
export interface ConductorOptions {
  /** Where run folders go (default `runs`). */
  runsDir?: string
  /** The bundled catalog folder (default: `AUTOML_CATALOG`, else found from the working directory). */
  catalogDir?: string
  /** Training budget in seconds when neither the call nor the prompt gives one (default 60). */
  defaultTimeBudget?: number
}

/** Options of `Conductor.start` (and `run`). */
export interface StartOptions {
  /** The data: a path (CSV/TSV, Parquet, JSON, Arrow IPC, image folder), rows, or an Arrow IPC buffer. */
  data?: Data
  /** The column to predict. */
  target?: string
  /** Training budget in seconds. */
  timeBudget?: number
  /** The metric to optimise (e.g. `macro_f1`, `rmse`). */
  metric?: string
  seed?: number
  maxTrials?: number
  /** The run folder (default `<runsDir>/<projectId>`). */
  outDir?: string
  projectId?: string
  /** Wait at REVIEW_EDIT for `confirm` instead of going on. */
  review?: boolean
  /** Allow data sets whose licence is research/demo-only. */
  allowRestricted?: boolean
  /** Forecasting: steps ahead (default: from the prompt, else one season of the frequency). */
  horizon?: number
}

/** Options of `run`. */
export interface RunOptions extends StartOptions {
  /** Called with every event, in `seq` order. */
  onEvent?: (e: Envelope) => unknown
  /** Aborting cancels the run: the best model so far is kept and exported. */
  signal?: AbortSignal
  /** The conductor to run with (default: a new one). */
  conductor?: Conductor
}

/** A forecast: `columns` names the series ids, the time and `prediction`; each row holds the
 * ids and the time as text, then the predicted value. */
export interface Forecast {
  columns: string[]
  rows: Array<Array<string | number | null>>
}

/** What applying the fitted preprocessing to the rows ran into. */
export interface TransformReport {
  missing_columns?: string[]
  coerced_values?: number
  unseen_categories?: number
  [k: string]: unknown
}

/** Predictions, one per input row, in input order. */
export interface Predictions {
  /** Predicted class labels (classification). */
  labels?: string[]
  /** The classes, in `proba` column order (classification). */
  classes?: string[]
  /** Class probabilities, one row per input row (classification). */
  proba?: number[][]
  /** Predicted values (regression). */
  values?: number[]
  /** The image files predicted (image models). */
  items?: string[]
  report: TransformReport
  reportText: string | null
}

/** A parsed prompt (`api::parse_prompt`). */
export interface ParsedPrompt {
  intent: Record<string, any>
  warnings: Record<string, any>[]
}

/** One column's share of a model's importance. */
export type FeatureShare = native.FeatureShare

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** The native start options for `data`: a path, rows as JSON, or an Arrow buffer. */
function dataOptions(data: Data | undefined): Pick<native.StartOptions, 'data' | 'rowsJson' | 'arrow'> {
  if (data === undefined || typeof data === 'string') return { data }
  if (data instanceof Uint8Array) return { arrow: toBuffer(data) }
  if (Array.isArray(data)) return { rowsJson: JSON.stringify(data) }
  throw new TypeError('data must be a file path, an array of row objects, or an Arrow IPC buffer')
}

/** An exported model: `predict`, `predictProba`, `classes`, `featureImportance()`. */
export class Model {
  /** @internal */
  constructor(private readonly native: native.Model, readonly path: string | null = null) {}

  /** The model family, e.g. `logistic_regression`. */
  get name(): string {
    return this.native.name
  }

  /** `classification` or `regression`. */
  get task(): string {
    return this.native.task
  }

  /** Class labels in `proba` column order; empty for regression. */
  get classes(): string[] {
    return this.native.classes
  }

  /** (column, share) pairs, largest first, summing to 1. */
  featureImportance(): FeatureShare[] {
    return this.native.featureImportance()
  }

  /** Predicted labels and class probabilities (or values), one per row of `data`. */
  async predict(data: Data): Promise<Predictions> {
    let json: Promise<string>
    if (typeof data === 'string') json = this.native.predictFile(data)
    else if (data instanceof Uint8Array) json = this.native.predictArrow(toBuffer(data))
    else if (Array.isArray(data)) json = this.native.predictRows(JSON.stringify(data))
    else throw new TypeError('data must be a file path, an array of row objects, or an Arrow IPC buffer')
    return JSON.parse(await mappedAsync(json)) as Predictions
  }

  /** True for a forecaster: `forecast(history, horizon)` extends every series. */
  get isForecaster(): boolean {
    return this.native.isForecaster
  }

  /** A forecaster extends every series of `history` (a file path or an array of row objects
   * with the time, id and target columns) by `horizon` steps (default: the trained horizon). */
  async forecast(history: string | object[], horizon?: number): Promise<Forecast> {
    let json: Promise<string>
    if (typeof history === 'string') json = this.native.forecastFile(history, horizon)
    else if (Array.isArray(history)) json = this.native.forecastRows(JSON.stringify(history), horizon)
    else throw new TypeError('history must be a file path or an array of row objects')
    return JSON.parse(await mappedAsync(json)) as Forecast
  }

  /** Class probabilities, one row per input row, columns in `classes` order. */
  async predictProba(data: Data): Promise<number[][]> {
    const p = await this.predict(data)
    if (p.proba === undefined) throw new TypeError('predictProba: this is a regression model')
    return p.proba
  }
}

/** Loads an exported model from a run folder (or its `model.json`). */
export async function load(path: string): Promise<Model> {
  return new Model(await mappedAsync(native.loadModel(path)), path)
}

/** How a run ended: `metrics` (test metrics), `leaderboard`, `model`, `artifacts`, `events`, `runDir`, `status`. */
export class Result {
  readonly status: 'finished' | 'cancelled'
  readonly projectId: string
  /** Held-out test metrics of the exported model. */
  readonly metrics: Record<string, number>
  /** The exported model's family. */
  readonly modelName: string | null
  readonly runDir: string
  /** Files written by EXPORT, by name (`model.json`, `metrics.json`, `model_card.md`, ...). */
  readonly artifacts: Record<string, string>
  readonly intent: Record<string, any> | null
  /** The trials ranked on the validation metric. */
  readonly leaderboard: LeaderboardRow[]
  /** Every event of the run, seq 1..N. */
  readonly events: Envelope[]
  /** The exported model, loaded (null when the run exported none). */
  readonly model: Model | null
  /** The outcome as the core serialised it. */
  readonly outcome: Outcome

  /** @internal */
  constructor(outcome: Outcome, events: Envelope[], model: Model | null) {
    this.outcome = outcome
    this.status = outcome.status
    this.projectId = outcome.project_id
    this.metrics = { ...outcome.metrics }
    this.modelName = outcome.model
    this.runDir = outcome.run_dir
    this.artifacts = Object.fromEntries(outcome.artifacts.map((a) => [a.name, a.path]))
    this.intent = outcome.intent
    this.leaderboard = outcome.leaderboard
    this.events = events
    this.model = model
  }

  toString(): string {
    const m = Object.entries(this.metrics)
      .map(([k, v]) => `${k}=${v.toFixed(4)}`)
      .join(', ')
    return (
      `<automl.Result ${this.status} ${this.projectId}: ${this.modelName} [${m}] ` +
      `${this.leaderboard.length} trials, ${this.events.length} events, in ${this.runDir}>`
    )
  }
}

/**
 * The events of one run, pulled one at a time: `for await (const e of handle.events())`.
 * A slow consumer holds the stream back and misses nothing.
 */
export class EventStream implements AsyncIterable<Envelope> {
  /** @internal */
  constructor(private readonly native: native.EventStream) {}

  /** The next envelope, or null once the run has ended and every event was read. */
  async next(): Promise<Envelope | null> {
    // Fast path: an event already in the log needs no thread hop.
    let s = this.native.tryNext()
    if (s === null) s = await this.native.next()
    return s === null ? null : (JSON.parse(s) as Envelope)
  }

  /** The seq this stream yields next. */
  get nextSeq(): number {
    return this.native.nextSeq
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Envelope, void, undefined> {
    for (let e = await this.next(); e !== null; e = await this.next()) yield e
  }
}

/** A started run: `events()`, `confirm`, `cancel`, `wait`. */
export class RunHandle {
  /** @internal */
  constructor(private readonly native: native.RunHandle) {}

  get projectId(): string {
    return this.native.projectId
  }

  /** True once the run was asked to cancel. */
  get cancelled(): boolean {
    return this.native.cancelled
  }

  /** Every event after `since` (0: from the start), then live ones, ending with the run. */
  events(since = 0): EventStream {
    return new EventStream(this.native.events(since))
  }

  /** Answers a waiting stage (REVIEW_EDIT with `review: true`): "accept" or `{ run_id: ... }`. */
  confirm(stage: Stage, choice: 'accept' | Record<string, unknown> = 'accept'): void {
    mapped(() => this.native.confirm(stage, JSON.stringify(choice)))
  }

  /** Cancels the run: it stops at its next check, keeps the best model so far, and ends with RUN_CANCELLED. */
  cancel(): void {
    this.native.cancel()
  }

  /** Resolves with the run's `Result` when it ends (also when cancelled); rejects with its error. */
  async wait(): Promise<Result> {
    const outcome = JSON.parse(await mappedAsync(this.native.wait())) as Outcome
    const events: Envelope[] = []
    const all = this.native.events(0)
    for (let s = all.tryNext(); s !== null; s = all.tryNext()) events.push(JSON.parse(s) as Envelope)
    const model = outcome.artifacts.some((a) => a.name === 'model.json') ? await load(outcome.run_dir) : null
    return new Result(outcome, events, model)
  }
}

/** Starts runs: `new Conductor({ runsDir: 'runs' }).start(prompt, { data })`. */
export class Conductor {
  private readonly native: native.Conductor

  constructor(opts: ConductorOptions = {}) {
    this.native = mapped(() => new native.Conductor(opts))
  }

  /** Starts a run and returns its handle at once. */
  start(prompt: string, opts: StartOptions = {}): RunHandle {
    const { data, ...rest } = opts
    const o: native.StartOptions = { ...rest, ...dataOptions(data) }
    return new RunHandle(mapped(() => this.native.start(prompt, o)))
  }
}

/**
 * Runs a request to its end and resolves with its `Result`.
 *
 * `onEvent` sees every event in `seq` order. Aborting `signal` cancels the run cleanly: it
 * rejects with `Cancelled`, whose `result` holds the best model so far. Errors reject with
 * `AutomlError` subclasses (`DataError`, `PromptError`, ...).
 */
export async function run(prompt: string, opts: RunOptions = {}): Promise<Result> {
  const { onEvent, signal, conductor, ...start } = opts
  signal?.throwIfAborted()
  const h = (conductor ?? new Conductor()).start(prompt, start)
  const onAbort = (): void => h.cancel()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    try {
      for await (const e of h.events()) onEvent?.(e)
    } catch (err) {
      // A failing onEvent: stop the run, then report the callback's error.
      h.cancel()
      await h.wait().catch(() => undefined)
      throw err
    }
    const res = await h.wait()
    if (res.status === 'cancelled') {
      const why = signal?.aborted ? 'by its AbortSignal' : ''
      const kept = res.model ? `; the best model so far is in ${res.runDir}` : '; no model was kept'
      const err = new Cancelled(`run ${res.projectId} was cancelled ${why}${kept}`.replace(' ;', ';'), {
        code: 'cancelled',
        category: 'cancelled',
        cause: signal?.aborted ? signal.reason : undefined,
      })
      err.result = res
      throw err
    }
    return res
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

/** Parses a request as a run would: `{ intent, warnings }`. */
export async function parse(prompt: string): Promise<ParsedPrompt> {
  return JSON.parse(await mappedAsync(native.parse(prompt))) as ParsedPrompt
}

/** Loads a file or image folder and profiles it (the PROFILE_READY payload, as `automl profile --json`). */
export async function profile(path: string, opts: { target?: string } = {}): Promise<Record<string, any>> {
  return JSON.parse(await mappedAsync(native.profile(path, opts.target))) as Record<string, any>
}

