// End-to-end: the real server (target/debug/automl serve) and the built UI in Debian's
// Chromium, driven by playwright-core.
//   cd ui && npm run build && AUTOML_BIN=../target/debug/automl node --test e2e/
// Screenshots go to ui/e2e/artifacts/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const bin = process.env.AUTOML_BIN ? resolve(process.env.AUTOML_BIN) : join(repo, "target/debug/automl");
const artifacts = join(here, "artifacts");
mkdirSync(artifacts, { recursive: true });

let server;
let base;
let browser;
let dataDir;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "automl-e2e-"));
  server = spawn(bin, ["serve", "--port", "0", "--data-dir", dataDir, "--ui-dir", join(repo, "ui/dist")], {
    cwd: repo,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, AUTOML_LOG: process.env.AUTOML_LOG ?? "info" },
  });
  base = await new Promise((ok, fail) => {
    let err = "";
    const t = setTimeout(() => fail(new Error(`server did not start:\n${err}`)), 30000);
    server.stderr.on("data", (d) => {
      err += d;
      const m = /automl server on (http:\/\/[^\s/]+)\//.exec(err);
      if (m) {
        clearTimeout(t);
        ok(m[1]);
      }
    });
    server.on("exit", (code) => fail(new Error(`server exited (${code}):\n${err}`)));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((ok) => server.once("exit", ok));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function runPrompt(page, prompt) {
  await page.goto(base + "/");
  await page.fill('[data-testid="prompt"]', prompt);
  await page.click('[data-testid="run"]');
  await page.waitForSelector('[data-testid="project"]');
  return page.textContent('[data-testid="project"]');
}

async function allStagesCompleted(page) {
  await page.waitForSelector('[data-stage="EXPORT"][data-status="completed"]', { timeout: 120000 });
  const statuses = await page.$$eval("[data-stage]", (els) => els.map((e) => [e.dataset.stage, e.dataset.status]));
  assert.equal(statuses.length, 8);
  for (const [stage, status] of statuses) assert.equal(status, "completed", `${stage} is ${status}`);
}

async function serverEventCount(project) {
  const r = await fetch(`${base}/api/projects/${project}/artifacts/events.jsonl`);
  assert.equal(r.status, 200);
  const lines = (await r.text()).split("\n").filter((l) => l.trim());
  return lines.length;
}

test("classify iris species: stages complete, a loss curve is drawn, the model downloads", async () => {
  const page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1200, height: 1000 } });
  const project = await runPrompt(page, "classify iris species");
  await allStagesCompleted(page);
  await page.waitForSelector('[data-testid="outcome"][data-kind="finished"]');
  // A loss curve with more than one point.
  const points = await page.$$eval('[data-testid="loss-chart"] polyline.curve', (ls) =>
    ls.map((l) => l.getAttribute("points").trim().split(/\s+/).length),
  );
  assert.ok(points.length > 0 && Math.max(...points) > 1, `loss curves: ${points}`);
  assert.ok((await page.$$('[data-testid="leaderboard"] tbody tr')).length > 0, "a leaderboard");
  assert.ok(await page.$('[data-testid="table-preview"]'), "a table preview");
  await page.screenshot({ path: join(artifacts, "iris.png"), fullPage: true });
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-artifact="model.json"]'),
  ]);
  const saved = join(artifacts, "model.json");
  await download.saveAs(saved);
  const model = JSON.parse(readFileSync(saved, "utf8"));
  assert.equal(typeof model, "object");
  const onServer = await (await fetch(`${base}/api/projects/${project}/artifacts/model.json`)).json();
  assert.deepEqual(model, onServer, "the downloaded model is the server's");
  const seq = Number((await page.textContent('[data-testid="last-seq"]')).replace(/\D/g, ""));
  assert.equal(seq, await serverEventCount(project), "the UI applied every event");
  await page.close();
});

test("the socket is killed mid-run and the UI catches up from its last seq", async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  await page.goto(base + "/");
  await page.fill('[data-testid="prompt"]', "classify iris species");
  // Ask for a review so that the run waits at REVIEW_EDIT: a point that is surely mid-run.
  await page.click("details summary");
  await page.check('[data-testid="review-toggle"]');
  await page.click('[data-testid="run"]');
  await page.waitForSelector('[data-stage="REVIEW_EDIT"][data-status="waiting"]', { timeout: 120000 });
  const project = await page.textContent('[data-testid="project"]');
  assert.ok(await page.$('[data-testid="confirm"]'), "the review offers a confirm button");
  // Drop the socket and stay away for three seconds; meanwhile the run is confirmed over HTTP
  // (as another tab would) and finishes, so the UI misses the end of the run while it is away.
  const seqAtKill = await page.evaluate(() => {
    const s = globalThis.__automl.state().lastSeq;
    globalThis.__automl.killSocket(3000);
    return s;
  });
  await page.waitForSelector('[data-testid="connection"][data-state="reconnecting"]', { timeout: 5000 });
  const r = await fetch(`${base}/api/projects/${project}/confirm`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ stage: "REVIEW_EDIT" }),
  });
  assert.equal(r.status, 202);
  // The run ends on the server while the UI is disconnected.
  let total = 0;
  for (let i = 0; i < 100; i++) {
    const log = await fetch(`${base}/api/projects/${project}/artifacts/events.jsonl`);
    const text = log.status === 200 ? await log.text() : "";
    if (text.includes('"RUN_FINISHED"')) {
      total = text.split("\n").filter((l) => l.trim()).length;
      break;
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.ok(total > seqAtKill, `the run went on after the drop (${seqAtKill} -> ${total})`);
  assert.equal(await page.evaluate(() => globalThis.__automl.state().outcome), null, "the UI has not seen the end yet");
  await allStagesCompleted(page);
  await page.waitForSelector('[data-testid="outcome"][data-kind="finished"]');
  const st = await page.evaluate(() => {
    const s = globalThis.__automl.state();
    return { lastSeq: s.lastSeq, reconnects: s.reconnects, connection: s.connection };
  });
  assert.equal(st.lastSeq, await serverEventCount(project), "every event after the drop was applied");
  assert.ok(st.reconnects >= 1, "it reconnected by itself");
  assert.equal(st.connection, "open");
  await page.screenshot({ path: join(artifacts, "after-reconnect.png"), fullPage: true });
  await page.close();
});
