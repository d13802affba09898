// @ts-check
// Per-event cost of crossing into JavaScript (the twin of automl-py/bench/events_overhead.py):
// how many wire envelopes per second `handle.events()` delivers as JS objects, and the overhead
// of `run()` over the core's own run time on the same request.
//
//     node automl-node/bench/events_overhead.mjs [--runs N] [--repeat R] [--budget S]
//
// It runs N short real runs (iris, bundled catalog), then replays their logs R times through
// `handle.events()` (the run is over, so this times only the crossing: subscription, JSON text,
// JSON.parse). As a reference it times JSON.parse of the same envelopes as text. The `run()`
// overhead compares the wall time of `run()` (start, every event into JS, wait, model load)
// with the RUN_FINISHED duration the core measured inside the same run.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

import { Conductor, run } from 'automl'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, repeat: { type: 'string', default: '50' }, budget: { type: 'string', default: '10' } } })
const runs = Number(values.runs)
const repeat = Number(values.repeat)
const budget = Number(values.budget)
const repo = resolve(import.meta.dirname, '..', '..')
const tmp = mkdtempSync(join(tmpdir(), 'automl-node-bench-'))
try {
  const c = new Conductor({ runsDir: tmp, catalogDir: join(repo, 'datasets') })
  const handles = []
  const overheads = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const r = await run('classify iris species', { timeBudget: budget, seed: i, conductor: c })
    const wall = (performance.now() - t) / 1000
    const core = r.events.at(-1)?.event.payload.duration_s ?? wall
    overheads.push(wall - core)
    const h = c.start('classify iris species', { timeBudget: budget, seed: i })
    await h.wait()
    handles.push(h)
  }
  let n = 0
  const t0 = performance.now()
  for (let k = 0; k < repeat; k++) {
    for (const h of handles) {
      for await (const _e of h.events()) n++
    }
  }
  const dt = (performance.now() - t0) / 1000
  const lines = []
  for (const h of handles) for await (const e of h.events()) lines.push(JSON.stringify(e))
  const t1 = performance.now()
  let m = 0
  for (let k = 0; k < repeat; k++) {
    for (const l of lines) {
      JSON.parse(l)
      m++
    }
  }
  const dj = (performance.now() - t1) / 1000
  const size = lines.reduce((a, l) => a + l.length, 0) / Math.max(lines.length, 1)
  const fmt = (/** @type {number} */ x) => Math.round(x).toLocaleString('en')
  console.log(
    `node iterator: ${n} events in ${dt.toFixed(3)} s = ${fmt(n / dt)} events/s ` +
      `(${((dt / n) * 1e6).toFixed(1)} us/event, mean envelope ${size.toFixed(0)} bytes of JSON)`,
  )
  console.log(`JSON.parse reference: ${fmt(m / dj)} events/s (${((dj / m) * 1e6).toFixed(1)} us/event)`)
  const mean = overheads.reduce((a, b) => a + b, 0) / overheads.length
  console.log(`run() over the core's own run time: ${(mean * 1000).toFixed(1)} ms per iris run (mean of ${runs})`)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
