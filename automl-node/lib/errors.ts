// Error classes of automl, mapped from the core's error category (the twin of automl-py's
// error.rs). The native addon tags each message with
// `[automl category=... code=... stage=... user=...]`; `fromNative` reads the tag and builds
// the matching class, keeping the "Caused by:" lines in the message and the Rust cause chain
// as `cause`.

import type { Result } from './automl'

/** The families of errors (the core's `ErrorCategory`). */
export type ErrorCategory =
  | 'data'
  | 'prompt'
  | 'licence'
  | 'dataset_not_found'
  | 'invalid_option'
  | 'training'
  | 'model_load'
  | 'cancelled'
  | 'internal'

/** Base class of every automl error. */
export class AutomlError extends Error {
  /** The core's machine-readable code, as in ERROR events (e.g. `data_file_unreadable`). */
  code: string
  /** The family, which picks the subclass. */
  category: ErrorCategory
  /** The stage that failed (e.g. `DATA_SOURCE`), for errors of a run. */
  stage: string | null
  /** True when the caller's input is at fault. */
  userError: boolean
  /** The command line's exit code for this error: 2 for the caller's input, 1 otherwise. */
  exitCode: number

  constructor(
    message: string,
    opts: {
      code?: string
      category?: ErrorCategory
      stage?: string | null
      userError?: boolean
      cause?: unknown
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.code = opts.code ?? 'internal'
    this.category = opts.category ?? 'internal'
    this.stage = opts.stage ?? null
    this.userError = opts.userError ?? false
    this.exitCode = this.userError ? 2 : 1
  }
}

/** The data cannot be read or used (file, format, target column, rows). */
export class DataError extends AutomlError {}
/** The request is not a task automl can run. */
export class PromptError extends AutomlError {}
/** No data was given and no usable data set was found. */
export class DatasetNotFound extends AutomlError {}
/** The matching data sets have licences that the policy rejects. */
export class LicenseError extends DatasetNotFound {}
/** An option passed by the caller is invalid. */
export class OptionError extends AutomlError {}
/** No trainer handles the task, or training or a stage failed. */
export class TrainingError extends AutomlError {}
/** A saved model cannot be read. */
export class ModelLoadError extends AutomlError {}
/** The run was cancelled (`cancel()` or an `AbortSignal`); `result` holds what was kept. */
export class Cancelled extends AutomlError {
  /** The cancelled run's result (its best model so far, when there was one). */
  result: Result | null = null
}

const CLASSES: Record<ErrorCategory, typeof AutomlError> = {
  data: DataError,
  prompt: PromptError,
  licence: LicenseError,
  dataset_not_found: DatasetNotFound,
  invalid_option: OptionError,
  training: TrainingError,
  model_load: ModelLoadError,
  cancelled: Cancelled,
  internal: AutomlError,
}

const TAG = /^\[automl category=(\w+) code=(\w+) stage=([\w-]+) user=(true|false)\] /

/** The automl error for an error thrown by the native addon (other errors unchanged). */
export function fromNative(e: unknown): unknown {
  if (!(e instanceof Error)) return e
  const m = TAG.exec(e.message)
  if (m === null) return e
  const category = m[1] as ErrorCategory
  const Class = CLASSES[category] ?? AutomlError
  return new Class(e.message.slice(m[0].length), {
    code: m[2],
    category,
    stage: m[3] === '-' ? null : m[3],
    userError: m[4] === 'true',
    cause: e.cause,
  })
}

/** Runs `f`, rethrowing native errors as automl errors. */
export function mapped<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw fromNative(e)
  }
}

/** Awaits `p`, rethrowing native errors as automl errors. */
export async function mappedAsync<T>(p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (e) {
    throw fromNative(e)
  }
}
