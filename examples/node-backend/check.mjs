// @ts-check
// Runs the example server as its own process and drives it over HTTP with Node's fetch (undici):
// POST /runs, the Server-Sent Events until the end (seq 1..N, no gap, RUN_FINISHED), a resume
// with Last-Event-ID, GET /runs/:id and a prediction. Exits non-zero on any failure.
//
//     cd examples/node-backend && AUTOML_CATALOG=../../datasets node check.mjs

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const runsDir = mkdtempSync(join(tmpdir(), 'automl-node-backend-'))
process.on('exit', () => rmSync(runsDir, { recursive: true, force: true }))
const server = spawn(process.execPath, ['server.mjs'], {
  cwd: import.meta.dirname,
  env: { ...process.env, PORT: '0', RUNS_DIR: runsDir },
  stdio: ['ignore', 'pipe', 'inherit'],
})
const timeout = setTimeout(() => fail('timed out after 120 s'), 120_000)

/** @param {string} why */
function fail(why) {
  console.error(`node-backend check FAILED: ${why}`)
  server.kill()
  process.exit(1)
}

/** @param {boolean} ok @param {string} why */
function check(ok, why) {
  if (!ok) fail(why)
}

/** A response's JSON body. @param {Response} r @returns {Promise<any>} */
const json = (r) => r.json()

/** Reads an SSE response to its end: the `data` of each event with its `id`. */
async function readSse(/** @type {Response} */ res) {
  check(res.status === 200, `events: HTTP ${res.status}`)
  check((res.headers.get('content-type') ?? '').startsWith('text/event-stream'), 'not an event stream')
  const out = []
  let buf = ''
  const decoder = new TextDecoder()
  for await (const chunk of /** @type {AsyncIterable<Uint8Array>} */ (/** @type {unknown} */ (res.body))) {
    buf += decoder.decode(chunk, { stream: true })
    let i
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i)
      buf = buf.slice(i + 2)
      const f = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))
      if (f.event !== 'end') out.push({ id: Number(f.id), event: f.event, data: JSON.parse(f.data) })
    }
  }
  return out
}

const base = await new Promise((resolve) => {
  server.stdout.setEncoding('utf8')
  server.stdout.on('data', (/** @type {string} */ s) => {
    const m = /listening on (http:\/\/\S+)/.exec(s)
    if (m) resolve(m[1])
  })
  server.on('exit', (code) => fail(`server exited with ${code}`))
})

const started = await fetch(`${base}/runs`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ prompt: 'classify iris species', timeBudget: 10, maxTrials: 3 }),
})
check(started.status === 201, `POST /runs: HTTP ${started.status}`)
const { projectId, events } = await json(started)

const all = await readSse(await fetch(`${base}${events}`, { headers: { accept: 'text/event-stream' } }))
check(all.length > 10, `only ${all.length} events`)
check(all.every((e, i) => e.id === i + 1 && e.data.seq === i + 1), 'seq is not 1..N without gaps')
check(all.every((e) => e.data.event.name === e.event && e.data.project_id === projectId), 'event fields differ')
check(all.at(-1)?.event === 'RUN_FINISHED', `last event is ${all.at(-1)?.event}`)

const resumed = await readSse(await fetch(`${base}${events}`, { headers: { 'last-event-id': '5' } }))
check(resumed.length === all.length - 5 && resumed[0].id === 6, 'Last-Event-ID did not resume after 5')

const result = await json(await fetch(`${base}/runs/${projectId}`))
check(result.status === 'finished' && result.metrics.accuracy > 0.8, `result ${JSON.stringify(result)}`)

const pred = await fetch(`${base}/runs/${projectId}/predict`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ rows: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }] }),
})
const p = await json(pred)
check(pred.status === 200 && p.labels[0] === 'setosa', `predict ${JSON.stringify(p)}`)

const bad = await fetch(`${base}/runs`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ prompt: 'classify iris species', timeBudget: -1 }),
})
check(bad.status === 422 && (await json(bad)).code === 'invalid_option', `bad budget gave HTTP ${bad.status}`)

clearTimeout(timeout)
server.removeAllListeners('exit')
server.kill()
console.log(`node-backend check: ${all.length} events over SSE (seq 1..${all.length}), resume, result, predict: ok`)
