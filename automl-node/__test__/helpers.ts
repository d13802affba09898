// Shared fixtures (the twin of automl-py/tests/conftest.py): the real data sets
// (../shared/datasets beside the repository, as CI lays it out; the repository's bundled
// datasets/ holds the same files) and a conductor whose runs go to a temporary folder.

import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

import { afterAll } from 'vitest'

import { Conductor, type Envelope } from '../lib/automl'

export const REPO = resolve(__dirname, '..', '..')

function datasets(): string {
  const candidates = [
    process.env.AUTOML_SHARED_DATASETS,
    join(REPO, '..', 'shared', 'datasets'),
    join(REPO, 'datasets'),
  ]
  for (const c of candidates) {
    if (c && existsSync(join(c, 'tabular', 'iris.csv'))) return c
  }
  throw new Error(`no data sets found in ${candidates.join(', ')}`)
}

export const DATASETS = datasets()
export const IRIS = join(DATASETS, 'tabular', 'iris.csv')
export const DIABETES = join(DATASETS, 'tabular', 'diabetes.csv')

// Every temporary folder a test made, removed after the test file (runs, models and uploads
// would otherwise pile up in /tmp, one folder per test per CI run). A vitest hook, not
// process.on('exit'): vitest ends its workers without an exit event.
const made: string[] = []
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true })
})

export function tmpDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'automl-node-test-'))
  made.push(d)
  return d
}

export function conductor(): Conductor {
  return new Conductor({ runsDir: join(tmpDir(), 'runs'), catalogDir: join(REPO, 'datasets') })
}

/** seq 1..N with no gap, all of one project. */
export function checkGapless(events: Envelope[]): void {
  const seqs = events.map((e) => e.seq)
  const want = Array.from({ length: seqs.length }, (_, i) => i + 1)
  if (JSON.stringify(seqs) !== JSON.stringify(want)) {
    throw new Error(`seqs have gaps: ${seqs.slice(0, 20).join(',')}...`)
  }
  if (!events.every((e) => e.type === 'event')) throw new Error('an envelope is not an event')
  if (new Set(events.map((e) => e.project_id)).size !== 1) throw new Error('several projects')
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
