// @ts-check
// A Node backend on automl (Express): `POST /runs` starts a run, `GET /runs/:id/events` streams
// its events to the browser as Server-Sent Events, `GET /runs/:id` gives the result and
// `POST /runs/:id/predict` predicts rows with the exported model. Run it from the repository:
//
//     bash scripts/setup.d/40-node.sh        # builds the addon, installs this example
//     cd examples/node-backend && AUTOML_CATALOG=../../datasets PORT=3000 node server.mjs
//     curl -s -X POST localhost:3000/runs -H 'content-type: application/json' \
//          -d '{"prompt": "classify iris species", "timeBudget": 10}'
//     curl -N localhost:3000/runs/<projectId>/events           # or open http://localhost:3000/
//
// `node check.mjs` (run by CI through scripts/test.d/40-node.sh) starts this server and drives
// it with a real HTTP client.

import { pathToFileURL } from 'node:url'

import { AutomlError, Conductor } from 'automl'
import express from 'express'

const PAGE = `<!doctype html><meta charset="utf-8"><title>automl</title>
<form id="f"><input id="p" size="40" value="classify iris species"><button>Run</button></form>
<pre id="log"></pre>
<script>
f.onsubmit = async (ev) => {
  ev.preventDefault()
  const r = await fetch('/runs', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: p.value, timeBudget: 10 }) })
  const { events } = await r.json()
  const es = new EventSource(events)
  es.onmessage = es.onerror = null
  es.addEventListener('error', () => es.close())
  const show = (e) => { log.textContent += e.type + ' ' + e.data.slice(0, 120) + '\\n' }
  for (const n of ['STAGE_STATUS', 'TRIAL_FINISHED', 'RUN_FINISHED', 'RUN_CANCELLED', 'ERROR']) es.addEventListener(n, show)
  es.addEventListener('end', () => es.close())
}
</script>`

/**
 * @param {{ runsDir?: string, catalogDir?: string }} [opts]
 */
export function createApp(opts = {}) {
  const conductor = new Conductor({ runsDir: opts.runsDir ?? 'runs', catalogDir: opts.catalogDir })
  /** @type {Map<string, import('automl').RunHandle>} */
  const runs = new Map()
  const app = express()
  app.use(express.json({ limit: '10mb' }))

  /**
   * Errors as JSON: the caller's input gives 4xx with automl's message, anything else a plain 500.
   * @param {import('express').Response} res
   * @param {unknown} e
   */
  function sendError(res, e) {
    if (e instanceof AutomlError && e.userError) {
      return res.status(422).json({ error: e.message.split('\n')[0], code: e.code, stage: e.stage })
    }
    console.error(e)
    return res.status(500).json({ error: 'internal error' })
  }

  app.get('/', (_req, res) => {
    res.type('html').send(PAGE)
  })

  // Starts a run. Body: { prompt, rows?, target?, timeBudget?, maxTrials?, seed? }; `rows` is an
  // array of objects (without it the bundled catalog is searched). Client paths are not
  // accepted: a backend decides which files a request may read.
  app.post('/runs', (req, res) => {
    const { prompt, rows, target, timeBudget, maxTrials, seed } = req.body ?? {}
    if (typeof prompt !== 'string') return res.status(400).json({ error: 'prompt (a string) is required' })
    if (rows !== undefined && !Array.isArray(rows)) return res.status(400).json({ error: 'rows must be an array of objects' })
    let h
    try {
      h = conductor.start(prompt, { data: rows, target, timeBudget, maxTrials, seed })
    } catch (e) {
      return sendError(res, e)
    }
    runs.set(h.projectId, h)
    // The handle keeps the outcome for GET /runs/:id; a failure is in the events too.
    h.wait().catch(() => undefined)
    res
      .status(201)
      .location(`/runs/${h.projectId}`)
      .json({ projectId: h.projectId, events: `/runs/${h.projectId}/events` })
  })

  // The run's events as Server-Sent Events: `id` is the seq, so a browser that reconnects with
  // Last-Event-ID resumes after the last event it got. The stream is pulled: when the socket's
  // buffer is full the loop waits for 'drain', and the run's log keeps what is not yet sent.
  app.get('/runs/:id/events', async (req, res) => {
    const h = runs.get(req.params.id)
    if (!h) return res.status(404).json({ error: 'no such run' })
    const since = Number(req.get('Last-Event-ID') ?? req.query.since ?? 0) || 0
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    let closed = false
    res.on('close', () => {
      closed = true
    })
    for await (const e of h.events(since)) {
      if (closed) return
      const ok = res.write(`id: ${e.seq}\nevent: ${e.event.name}\ndata: ${JSON.stringify(e)}\n\n`)
      if (!ok) {
        await new Promise((resolve) => {
          res.once('drain', resolve)
          res.once('close', resolve)
        })
      }
    }
    res.end('event: end\ndata: {}\n\n')
  })

  // The result once the run has ended (waits for it).
  app.get('/runs/:id', async (req, res) => {
    const h = runs.get(req.params.id)
    if (!h) return res.status(404).json({ error: 'no such run' })
    try {
      const r = await h.wait()
      res.json({ projectId: r.projectId, status: r.status, metrics: r.metrics, model: r.modelName, leaderboard: r.leaderboard })
    } catch (e) {
      sendError(res, e)
    }
  })

  // Predicts rows (an array of objects) with the run's exported model.
  app.post('/runs/:id/predict', async (req, res) => {
    const h = runs.get(req.params.id)
    if (!h) return res.status(404).json({ error: 'no such run' })
    try {
      const r = await h.wait()
      if (!r.model) return res.status(409).json({ error: `run ${r.projectId} exported no model` })
      const p = await r.model.predict(req.body?.rows ?? [])
      res.json({ labels: p.labels, classes: p.classes, proba: p.proba, values: p.values })
    } catch (e) {
      sendError(res, e)
    }
  })

  return app
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const server = createApp({ runsDir: process.env.RUNS_DIR }).listen(port, '127.0.0.1', () => {
    const a = server.address()
    console.log(`listening on http://127.0.0.1:${typeof a === 'object' && a ? a.port : port}`)
  })
}
