#!/usr/bin/env bash
# The Node package: makes sure the addon matches the sources (the setup fragment is a quick
# no-op when nothing changed), checks that the committed index.d.ts is what the build generates,
# type-checks the package, its tests, the benchmark and examples/node-backend (tsc --noEmit),
# runs vitest, drives the example server over HTTP, installs the packed tarball in a fresh
# folder and runs a TypeScript script against it, then prints the per-event cost of crossing
# into JavaScript.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.d/40-node.sh
echo "== index.d.ts is the generated one"
git diff --exit-code -- automl-node/index.d.ts automl-node/index.js
cd automl-node
echo "== tsc --noEmit (package, tests, bench, examples/node-backend)"
npx tsc --noEmit -p tsconfig.json
echo "== vitest automl-node/__test__"
npx vitest run --reporter=default
echo "== examples/node-backend over HTTP"
(cd ../examples/node-backend && AUTOML_CATALOG=../../datasets node check.mjs)
echo "== npm pack, install in a fresh folder, run a TypeScript script"
bash scripts/pack-check.sh
echo "== events/s crossing into JavaScript (short form; the full one: no arguments)"
node bench/events_overhead.mjs --runs 1 --repeat 20 --budget 3
