// End-to-end: the real server (target/debug/automl serve) and the built UI in Debian's
// Chromium, driven by playwright-core.
//   cd ui && npm run build && AUTOML_BIN=../target/debug/automl node --test e2e/
// Screenshots go to ui/e2e/artifacts/ (iris, diamonds, cats_dogs, each also at a 390 px phone
// width, and the project list after a reload).

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
    // Hermetic: the Hub (on by default) is skipped, and the machine's Hugging Face cache is
    // replaced by an empty one (a cached set about house prices would end the upload test);
    // the bundled catalog serves.
    env: {
      ...process.env,
      AUTOML_LOG: process.env.AUTOML_LOG ?? "info",
      HF_HUB_OFFLINE: "1",
      HF_HUB_CACHE: join(dataDir, "hf-cache"),
      HUGGINGFACE_HUB_CACHE: "",
    },
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

async function runPrompt(page, prompt, budgetS) {
  await page.goto(base + "/");
  await page.fill('[data-testid="prompt"]', prompt);
  if (budgetS) {
    await page.click("details summary");
    await page.fill('[data-testid="budget"]', String(budgetS));
  }
  await page.click('[data-testid="run"]');
  await page.waitForSelector('[data-testid="project"]');
  return page.textContent('[data-testid="project"]');
}

// The page never scrolls sideways: at a desktop width and at a phone's.
async function noSideScroll(page, name) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(150);
    const m = await page.evaluate(() => {
      const d = document.documentElement;
      const wide = [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().right > d.clientWidth + 1)
        .slice(0, 5)
        .map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
      return { scroll: d.scrollWidth, client: d.clientWidth, wide };
    });
    assert.ok(m.scroll <= m.client, `${name} at ${width} px scrolls sideways (${m.scroll} > ${m.client}): ${m.wide.join(", ")}`);
    if (width === 390) await page.screenshot({ path: join(artifacts, `${name}-390.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 1000 });
}

async function finished(page) {
  await page.waitForSelector('[data-testid="outcome"][data-kind="finished"]', { timeout: 180000 });
  await page.waitForSelector('[data-testid="review"]');
}

const projects = {};

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
  const page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 1000 } });
  const project = await runPrompt(page, "classify iris species", 5);
  await allStagesCompleted(page);
  await page.waitForSelector('[data-testid="outcome"][data-kind="finished"]');
  // A loss curve with more than one point.
  const points = await page.$$eval('[data-testid="loss-chart"] polyline.curve', (ls) =>
    ls.map((l) => l.getAttribute("points").trim().split(/\s+/).length),
  );
  assert.ok(points.length > 0 && Math.max(...points) > 1, `loss curves: ${points}`);
  assert.ok((await page.$$('[data-testid="leaderboard"] tbody tr')).length > 0, "a leaderboard");
  assert.ok(await page.$('[data-testid="table-preview"]'), "a table preview");
  // The review in pictures: importance bars and the confusion heat map (three classes: no ROC).
  assert.ok((await page.$$('[data-testid="importance"] .bar')).length > 0, "importance bars");
  assert.equal((await page.$$('[data-testid="confusion"] tbody tr')).length, 3, "a 3×3 confusion map");
  assert.equal(await page.$('[data-testid="roc"]'), null, "no ROC for three classes");
  await page.screenshot({ path: join(artifacts, "iris.png"), fullPage: true });
  await noSideScroll(page, "iris");
  projects.iris = project;
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

test("predict diamond prices: log-scaled curves, boosting rounds or path, regression review plots", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const project = await runPrompt(page, "predict diamond prices", 5);
  await finished(page);
  await page.waitForSelector('[data-testid="pred-vs-actual"] circle.dot');
  const dots = (await page.$$('[data-testid="pred-vs-actual"] circle.dot')).length;
  assert.ok(dots > 50, `predicted vs actual has ${dots} points`);
  assert.ok((await page.$$('[data-testid="residuals"] circle.dot')).length === dots, "residuals beside it");
  assert.ok((await page.$$('[data-testid="importance"] .bar')).length > 0, "importance bars");
  assert.equal(await page.$('[data-testid="confusion"]'), null, "no confusion matrix for a regression");
  // A trial picker instead of a legend; the leaderboard sorts by time and folds parameters.
  const options = await page.$$eval('[data-testid="trial-picker"] option', (os) => os.map((o) => o.value));
  assert.ok(options.includes("best") && options.includes("all"), `trial picker: ${options}`);
  await page.selectOption('[data-testid="trial-picker"]', "all");
  assert.ok((await page.$$('[data-testid="loss-chart"] polyline.curve')).length >= 1, "curves for all trials");
  await page.selectOption('[data-testid="trial-picker"]', "best");
  await page.click('[data-testid="sort-time"]');
  const sorted = await page.$eval('[data-testid="leaderboard"] th[aria-sort="ascending"], [data-testid="leaderboard"] th[aria-sort="descending"]', (th) => th.textContent);
  assert.match(sorted, /time/);
  assert.equal(await page.$$eval('[data-testid="leaderboard"] td.params code', (cs) => cs.filter((c) => c.checkVisibility()).length), 0, "parameters folded");
  const model = await page.$eval('[data-testid="review"] b', (b) => b.textContent);
  if (/gbdt|tree|forest|boost/.test(model)) {
    assert.ok(await page.$('[data-testid="boosting-chart"]'), "boosting rounds for a tree model");
  }
  await page.screenshot({ path: join(artifacts, "diamonds.png"), fullPage: true });
  await noSideScroll(page, "diamonds");
  projects.diamonds = project;
  await page.close();
});

test("a cat/dog image run: confusion map, ROC and precision-recall, misclassified thumbnails", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const project = await runPrompt(page, "Build a cat/dog classifier", 6);
  await finished(page);
  assert.ok(await page.$('[data-testid="image-preview"] img'), "sample images");
  assert.equal((await page.$$('[data-testid="confusion"] tbody tr')).length, 2, "a 2×2 confusion map");
  assert.ok(await page.$('[data-testid="roc"] polyline.curve'), "an ROC curve (binary)");
  assert.ok(await page.$('[data-testid="pr"] polyline.curve'), "a precision-recall curve");
  const thumbs = await page.$$('[data-testid="misclassified"] img');
  if (thumbs.length > 0) {
    // The thumbnails load lazily: bring them into view as a reader scrolling down would.
    await thumbs[0].scrollIntoViewIfNeeded();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="misclassified"] img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 10000 });
  }
  await page.screenshot({ path: join(artifacts, "cats_dogs.png"), fullPage: true });
  await noSideScroll(page, "cats_dogs");
  projects.images = project;
  await page.close();
});

test("a prompt that cannot run shows its error under the prompt, and is listed as failed", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const project = await runPrompt(page, "hello there");
  const alert = await page.waitForSelector('[data-testid="error"][role="alert"]', { timeout: 60000 });
  assert.match(await alert.textContent(), /failed at parse intent/i);
  await page.waitForSelector(`[data-testid="project-link"][data-project="${project}"][data-status="failed"]`, { timeout: 10000 });
  await page.screenshot({ path: join(artifacts, "failed.png") });
  projects.failed = project;
  await page.close();
});

test("no data set is about house prices: the run waits at DATA_SOURCE for an upload, which continues it", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const project = await runPrompt(page, "predict house prices", 4);
  await page.waitForSelector('[data-stage="DATA_SOURCE"][data-status="waiting"]', { timeout: 60000 });
  const box = await page.waitForSelector('[data-testid="upload-wait"]');
  assert.match(await box.textContent(), /house/, "the box says what was looked for");
  assert.equal(await page.$('[data-testid="outcome"]'), null, "no model of something else");
  await page.screenshot({ path: join(artifacts, "upload-wait.png"), fullPage: true });
  let csv = "sqft,rooms,age,price\n";
  for (let i = 0; i < 120; i++) {
    const sqft = 600 + ((i * 37) % 2400);
    const rooms = 1 + (i % 5);
    const age = (i * 7) % 60;
    csv += `${sqft},${rooms},${age},${sqft * 150 + rooms * 9000 - age * 500 + ((i * 131) % 5000)}\n`;
  }
  await page.setInputFiles('[data-testid="upload-file"]', { name: "houses.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.click('[data-testid="upload-continue"]');
  await finished(page);
  assert.equal(await page.textContent('[data-testid="project"]'), project, "the same run went on");
  assert.equal(await page.$('[data-testid="upload-wait"]'), null, "the box is gone");
  const events = await (await fetch(`${base}/api/projects/${project}/artifacts/events.jsonl`)).text();
  const selected = events
    .split("\n")
    .filter((l) => l.includes('"DATASET_SELECTED"'))
    .map((l) => JSON.parse(l).event.payload);
  assert.equal(selected.length, 1);
  assert.equal(selected[0].source, "user");
  assert.match(selected[0].id, /houses/);
  await page.screenshot({ path: join(artifacts, "upload-continued.png"), fullPage: true });
  await page.close();
});

test("after a reload the earlier projects are listed, and one opens by its address", async () => {
  assert.ok(projects.diamonds, "the diamonds run ran first");
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(base + "/");
  await page.waitForSelector(`[data-testid="project-link"][data-project="${projects.diamonds}"]`);
  const listed = await page.$$eval('[data-testid="project-link"]', (as) => as.map((a) => [a.dataset.project, a.dataset.status]));
  for (const [name, id] of Object.entries(projects)) {
    const want = name === "failed" ? "failed" : "finished";
    assert.ok(listed.some(([p, st]) => p === id && st === want), `${id} listed as ${want}: ${JSON.stringify(listed)}`);
  }
  await page.click(`[data-testid="project-link"][data-project="${projects.diamonds}"]`);
  await page.waitForSelector('[data-testid="pred-vs-actual"] circle.dot');
  assert.equal(await page.textContent('[data-testid="project"]'), projects.diamonds);
  assert.equal(new URL(page.url()).hash, `#/projects/${projects.diamonds}`, "the address names the project");
  // The address is enough: a reload (or a bookmark) opens the same project.
  await page.reload();
  await page.waitForSelector('[data-testid="outcome"][data-kind="finished"]');
  await page.waitForSelector('[data-testid="pred-vs-actual"] circle.dot');
  assert.equal(await page.textContent('[data-testid="project"]'), projects.diamonds);
  assert.ok(await page.$(`[data-testid="project-link"][data-project="${projects.diamonds}"][aria-current="page"]`), "marked as open");
  // Back to the previous project in the list with the keyboard.
  if (projects.iris) {
    await page.focus(`[data-testid="project-link"][data-project="${projects.iris}"]`);
    await page.keyboard.press("Enter");
    await page.waitForSelector('[data-testid="confusion"]');
    assert.equal(await page.textContent('[data-testid="project"]'), projects.iris);
  }
  await page.screenshot({ path: join(artifacts, "projects-after-reload.png"), fullPage: true });
  await page.close();
});
