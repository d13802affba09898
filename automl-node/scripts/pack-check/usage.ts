// The "done when" of the Node addon, as a user writes it: from a fresh folder where the packed
// package was installed with `npm install automl-<version>.tgz`, run "classify iris species",
// iterate every event, predict three rows, and catch a DataError. Compiled with tsc --strict
// and run by scripts/pack-check.sh (AUTOML_CATALOG points at the repository's datasets/).

import { Conductor, DataError, type Envelope, load, run, version } from 'automl'

async function main(): Promise<void> {
  const conductor = new Conductor({ runsDir: 'runs' })
  const handle = conductor.start('classify iris species', { timeBudget: 10 })
  const seen: Envelope[] = []
  for await (const e of handle.events()) seen.push(e)
  const result = await handle.wait()
  const gapless = seen.every((e, i) => e.seq === i + 1)
  if (!gapless || seen.at(-1)?.event.name !== 'RUN_FINISHED') throw new Error('events are incomplete')

  const model = await load(result.runDir)
  const p = await model.predict([
    { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 },
    { sepal_length: 6.3, sepal_width: 2.5, petal_length: 4.9, petal_width: 1.5 },
    { sepal_length: 7.2, sepal_width: 3.0, petal_length: 5.8, petal_width: 1.6 },
  ])
  if (p.labels?.length !== 3 || p.proba?.[0].length !== model.classes.length) throw new Error('bad predictions')

  try {
    await run('classify iris species', { data: 'no-such-file.csv', conductor })
    throw new Error('a missing file did not reject')
  } catch (e) {
    if (!(e instanceof DataError)) throw e
    console.log(`caught DataError ${e.code} (exit code ${e.exitCode}) at ${e.stage}`)
  }
  console.log(
    `automl ${version}: ${seen.length} events, accuracy ${result.metrics.accuracy.toFixed(3)}, ` +
      `predicted ${p.labels.join(', ')}`,
  )
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
