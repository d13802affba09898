// run, Result, Model, load, Conductor/RunHandle, events, errors: the twin of
// automl-py/tests/test_api.py (same test names, in JavaScript's words).

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { tableFromArrays, tableToIPC } from 'apache-arrow'
import { describe, expect, test } from 'vitest'

import * as automl from '../lib/automl'
import { type Envelope, Conductor, run } from '../lib/automl'
import { DIABETES, IRIS, REPO, checkGapless, conductor, sleep, tmpDir } from './helpers'

function irisRows(): Record<string, string | number>[] {
  const [head, ...lines] = readFileSync(IRIS, 'utf8').trim().split('\n')
  const cols = head.split(',')
  return lines.map((l) =>
    Object.fromEntries(l.split(',').map((v, i) => [cols[i], cols[i] === 'species' ? v : Number(v)])),
  )
}

const THREE_ROWS = [
  { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 },
  { sepal_length: 6.3, sepal_width: 2.5, petal_length: 4.9, petal_width: 1.5 },
  { sepal_length: 7.2, sepal_width: 3.0, petal_length: 5.8, petal_width: 1.6 },
]

describe('api', () => {
  test('version is the crates', () => {
    const cargo = readFileSync(join(REPO, 'Cargo.toml'), 'utf8')
    const m = /\[workspace\.package\][^[]*?version = "([^"]+)"/s.exec(cargo)
    const pkg = JSON.parse(readFileSync(join(REPO, 'automl-node', 'package.json'), 'utf8'))
    expect(m?.[1]).toBeDefined()
    expect(automl.version).toBe(m?.[1])
    expect(pkg.version).toBe(m?.[1])
    expect(pkg.name).toBe('automl')
  })

  test('run on a csv path', async () => {
    const seen: Envelope[] = []
    const r = await run('classify species', {
      data: IRIS,
      target: 'species',
      timeBudget: 4,
      seed: 1,
      onEvent: (e) => seen.push(e),
      conductor: conductor(),
    })
    expect(r.status).toBe('finished')
    expect(r.metrics.accuracy).toBeGreaterThanOrEqual(0.85)
    expect(Object.keys(r.metrics)).toEqual(expect.arrayContaining(['accuracy', 'macro_f1', 'log_loss']))
    expect(r.leaderboard.length).toBeGreaterThanOrEqual(1)
    expect(r.leaderboard.map((x) => x.rank)).toEqual(r.leaderboard.map((_, i) => i + 1))
    for (const f of ['model.json', 'metrics.json', 'model_card.md', 'notebook.ipynb', 'test_rows.csv']) {
      expect(r.artifacts[f]).toBeDefined()
    }
    // onEvent saw exactly the events the result keeps, in order, with no gap.
    checkGapless(seen)
    expect(seen.map((e) => e.seq)).toEqual(r.events.map((e) => e.seq))
    const names = r.events.map((e) => e.event.name)
    expect(names.at(-1)).toBe('RUN_FINISHED')
    expect(names.indexOf('NOTEBOOK_READY')).toBeLessThan(names.indexOf('EXPORT_READY'))
    // The model predicts from rows and from a path alike: labels and probabilities.
    const model = r.model!
    const fromRows = await model.predict(irisRows().map(({ species: _, ...x }) => x))
    const fromFile = await model.predict(IRIS)
    expect(fromRows.labels).toHaveLength(150)
    expect(fromRows.proba).toEqual(fromFile.proba)
    const truth = irisRows().map((x) => x.species)
    const hits = fromFile.labels!.filter((l, i) => l === truth[i]).length
    expect(hits / 150).toBeGreaterThanOrEqual(0.85)
    for (const row of fromFile.proba!) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
    expect(model.classes).toEqual([...new Set(truth)].sort())
    expect(String(r)).toContain(r.projectId)
  })

  test('load gives the same predictions', async () => {
    const r = await run('classify species', { data: IRIS, target: 'species', timeBudget: 4, conductor: conductor() })
    const m = await automl.load(r.runDir)
    expect(await m.predictProba(IRIS)).toEqual(await r.model!.predictProba(IRIS))
    expect(m.name).toBe(r.modelName)
    expect(m.task).toBe('classification')
    const imp = m.featureImportance()
    expect(imp.reduce((a, f) => a + f.importance, 0)).toBeCloseTo(1, 9)
    const three = await m.predict(THREE_ROWS)
    expect(three.labels).toHaveLength(3)
    expect(three.labels![0]).toBe('setosa')
    expect(three.classes).toEqual(m.classes)
  })

  test('in memory tables match the file', async () => {
    const c = conductor()
    const opts = { target: 'species', timeBudget: 4, seed: 3, maxTrials: 2, conductor: c }
    const base = await run('classify species', { ...opts, data: IRIS })
    const rows = irisRows()
    const fromRows = await run('classify species', { ...opts, data: rows })
    const cols = Object.keys(rows[0])
    const table = tableFromArrays(
      Object.fromEntries(
        cols.map((k) => [k, k === 'species' ? rows.map((r) => String(r[k])) : Float64Array.from(rows, (r) => Number(r[k]))]),
      ),
    )
    const fromArrow = await run('classify species', { ...opts, data: tableToIPC(table, 'stream') })
    for (const [k, v] of Object.entries(base.metrics)) {
      expect(fromRows.metrics[k]).toBeCloseTo(v, 9)
      expect(fromArrow.metrics[k]).toBeCloseTo(v, 9)
    }
    // An Arrow buffer predicts too.
    const feats = tableFromArrays({
      sepal_length: Float64Array.from(THREE_ROWS, (r) => r.sepal_length),
      sepal_width: Float64Array.from(THREE_ROWS, (r) => r.sepal_width),
      petal_length: Float64Array.from(THREE_ROWS, (r) => r.petal_length),
      petal_width: Float64Array.from(THREE_ROWS, (r) => r.petal_width),
    })
    const p = await base.model!.predict(tableToIPC(feats, 'file'))
    expect(p.labels).toEqual((await base.model!.predict(THREE_ROWS)).labels)
  })

  test('regression', async () => {
    const r = await run('predict progression', { data: DIABETES, target: 'progression', timeBudget: 4, conductor: conductor() })
    expect(r.model!.task).toBe('regression')
    expect(r.metrics.r2).toBeGreaterThan(0.2)
    const p = await r.model!.predict(DIABETES)
    expect(p.values).toHaveLength(442)
    await expect(r.model!.predictProba(DIABETES)).rejects.toThrow(TypeError)
  })

  test('forecast with a horizon', async () => {
    const sales = join(REPO, 'datasets', 'timeseries', 'store_sales.csv')
    const r = await run('forecast daily sales for the next 14 days', { data: sales, timeBudget: 4, horizon: 7, conductor: conductor() })
    expect(r.status).toBe('finished')
    expect(r.metrics.mase).toBeDefined()
    const m = await automl.load(r.runDir)
    expect(m.isForecaster).toBe(true)
    const f = await m.forecast(sales, 3)
    expect(f.columns).toEqual(['store', 'date', 'prediction'])
    expect(f.rows).toHaveLength(3 * 3)
    expect(f.rows[0][1]).toBe('2024-05-20')
    expect(typeof f.rows[0][2]).toBe('number')
    // Without a horizon, the trained one (7 steps) per store; rows in memory work alike.
    expect((await m.forecast(sales)).rows).toHaveLength(3 * 7)
    const [head, ...lines] = readFileSync(sales, 'utf8').trim().split(/\r?\n/)
    const cols = head.split(',')
    const history = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], cols[i] === 'date' || cols[i] === 'store' ? v : Number(v)])))
    expect(await m.forecast(history, 3)).toEqual(f)
    // A model that is not a forecaster says so.
    const iris = await run('classify species', { data: IRIS, target: 'species', timeBudget: 3, maxTrials: 1, conductor: conductor() })
    expect(iris.model!.isForecaster).toBe(false)
    await expect(iris.model!.forecast(sales, 3)).rejects.toThrow(/forecaster/)
  })

  test('handle events live and since', async () => {
    const h = conductor().start('classify species', { data: IRIS, target: 'species', timeBudget: 4 })
    const live: Envelope[] = []
    for await (const e of h.events()) live.push(e)
    checkGapless(live)
    expect(live.at(-1)!.event.name).toBe('RUN_FINISHED')
    const res = await h.wait()
    expect(res.events.map((e) => e.seq)).toEqual(live.map((e) => e.seq))
    const tail: Envelope[] = []
    for await (const e of h.events(5)) tail.push(e)
    expect(tail[0].seq).toBe(6)
    expect(tail).toEqual(live.slice(5))
    expect((await h.wait()).projectId).toBe(res.projectId) // a second wait gives the same outcome
  })

  test('slow consumer misses nothing', async () => {
    // A consumer that sleeps between reads holds its stream back (pull, not push): it still
    // gets seq 1..N with no gap, the same events as a fast reader beside it. (Falling behind
    // the live buffer and catching up from the log is the core's bus test.)
    const h = conductor().start('classify species', { data: IRIS, target: 'species', timeBudget: 4 })
    const fast: Envelope[] = []
    const slow: Envelope[] = []
    const reading = (async () => {
      for await (const e of h.events()) fast.push(e)
    })()
    for await (const e of h.events()) {
      slow.push(e)
      if (slow.length % 10 === 0) await sleep(15)
    }
    await reading
    checkGapless(slow)
    expect(slow).toEqual(fast)
    const res = await h.wait()
    expect(slow).toHaveLength(res.events.length)
  })

  test('review confirm and event loop free', async () => {
    const h = conductor().start('classify species', { data: IRIS, target: 'species', timeBudget: 4, review: true })
    for await (const e of h.events()) {
      const p = e.event.payload
      if (e.event.name === 'STAGE_STATUS' && p.stage === 'REVIEW_EDIT' && p.status === 'waiting') break
    }
    // wait() runs off the event loop: a 10 ms timer keeps firing while the run waits.
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    const done = h.wait()
    await sleep(300)
    expect(ticks).toBeGreaterThanOrEqual(10)
    expect(() => h.confirm('NOT_A_STAGE' as never, 'accept')).toThrow(automl.OptionError)
    h.confirm('REVIEW_EDIT', 'accept')
    const r = await done
    clearInterval(timer)
    expect(r.status).toBe('finished')
  })

  test('event loop keeps ticking while a run trains', async () => {
    // A 20 ms setInterval fires on time during a whole run (no call blocks the loop).
    let last = performance.now()
    let worst = 0
    let ticks = 0
    const timer = setInterval(() => {
      const now = performance.now()
      worst = Math.max(worst, now - last)
      last = now
      ticks++
    }, 20)
    const r = await run('predict progression', { data: DIABETES, target: 'progression', timeBudget: 3, conductor: conductor() })
    clearInterval(timer)
    expect(r.status).toBe('finished')
    expect(ticks).toBeGreaterThan(20)
    expect(worst).toBeLessThan(250)
  })

  test('cancel keeps the best model', async () => {
    const ac = new AbortController()
    const p = run('classify species', {
      data: IRIS,
      target: 'species',
      timeBudget: 4,
      review: true,
      signal: ac.signal,
      conductor: conductor(),
      onEvent: (e) => {
        if (e.event.name === 'STAGE_STATUS' && e.event.payload.status === 'waiting') ac.abort()
      },
    })
    const err = await p.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(automl.Cancelled)
    const res = (err as automl.Cancelled).result!
    expect(res.status).toBe('cancelled')
    expect(res.events.at(-1)!.event.name).toBe('RUN_CANCELLED')
    expect((await res.model!.predict(IRIS)).labels).toHaveLength(150)
    // An already aborted signal never starts a run.
    await expect(run('classify species', { data: IRIS, signal: AbortSignal.abort() })).rejects.toThrow()
  })

  test('errors map to classes with causes', async () => {
    const c = conductor()
    const dir = tmpDir()
    const err = await run('classify species', { data: join(dir, 'missing.csv'), conductor: c }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(automl.DataError)
    expect(err).toBeInstanceOf(automl.AutomlError)
    const e = err as automl.AutomlError
    expect(e.code).toBe('data_file_unreadable')
    expect(e.category).toBe('data')
    expect(e.stage).toBe('DATA_SOURCE')
    expect(e.userError).toBe(true)
    expect(e.exitCode).toBe(2)
    expect(e.message).toMatch(/\nCaused by: /)
    expect(e.cause).toBeInstanceOf(Error)
    const bad = join(dir, 't.csv')
    writeFileSync(bad, 'a,b\n1,2\n3,4\n')
    await expect(run('predict zzz', { data: bad, target: 'zzz', conductor: c })).rejects.toThrow(/target column/)
    await expect(run('predict zzz', { data: bad, target: 'zzz', conductor: c })).rejects.toBeInstanceOf(automl.DataError)
    await expect(run('', { conductor: c })).rejects.toBeInstanceOf(automl.PromptError)
    await expect(automl.load(dir)).rejects.toBeInstanceOf(automl.ModelLoadError)
    expect(() => c.start('classify species', { timeBudget: -1 })).toThrow(automl.OptionError)
    expect(() => c.start('classify species', { data: 42 as never })).toThrow(TypeError)
    expect(() => c.start('classify species', { data: [1, 2] as never })).toThrow(automl.DataError)
    expect(new automl.LicenseError('x')).toBeInstanceOf(automl.DatasetNotFound)
    expect(automl.LicenceError).toBe(automl.LicenseError)
    expect(new automl.Cancelled('x')).toBeInstanceOf(automl.AutomlError)
  })

  test('licence rejected raises license error', async () => {
    const dir = tmpDir()
    const cat = join(dir, 'catalog')
    mkdirSync(join(cat, 'tabular'), { recursive: true })
    mkdirSync(join(cat, 'licenses'))
    const doc = JSON.parse(readFileSync(join(REPO, 'datasets', 'catalog.json'), 'utf8'))
    const entry = { ...doc.datasets.find((d: { id: string }) => d.id === 'iris'), license: 'GPL-3.0' }
    doc.datasets = [entry]
    writeFileSync(join(cat, 'catalog.json'), JSON.stringify(doc))
    writeFileSync(join(cat, 'tabular', 'iris.csv'), readFileSync(join(REPO, 'datasets', 'tabular', 'iris.csv')))
    writeFileSync(join(cat, 'licenses', 'iris.md'), 'GPL-3.0 (test fixture)')
    const c = new Conductor({ runsDir: join(dir, 'runs'), catalogDir: cat })
    const err = await run('classify iris species', { conductor: c }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(automl.LicenseError)
    expect((err as automl.AutomlError).code).toBe('licence_rejected')
  })

  test('parse and profile', async () => {
    const p = await automl.parse('classify iris species')
    expect(p.intent.task_type).toBeTruthy()
    expect(Array.isArray(p.warnings)).toBe(true)
    const prof = await automl.profile(IRIS)
    expect(prof.n_rows).toBe(150)
    expect(prof.target).toBe('species')
    await expect(automl.profile(IRIS, { target: 'nope' })).rejects.toBeInstanceOf(automl.DataError)
  })
})
