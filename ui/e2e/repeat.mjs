// Not part of the suite: runs one short prompt N times against one server in Chromium and
// reports every run whose error never reached the page, with the page's state and the
// server's log lines for that project. It found the race fixed in 1c440e8 (a run that fails
// within milliseconds, 1 in 40 before the fix, 0 in 120 after).
//   cd ui && npm run build && node e2e/repeat.mjs [N] [prompt]

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.AUTOML_BIN ? resolve(process.env.AUTOML_BIN) : join(repo, "target/debug/automl");
const n = Number(process.argv[2] ?? 40);
const prompt = process.argv[3] ?? "hello there";
const dataDir = mkdtempSync(join(tmpdir(), "automl-repeat-"));
const server = spawn(bin, ["serve", "--port", "0", "--data-dir", dataDir, "--ui-dir", join(repo, "ui/dist")], {
  cwd: repo,
  stdio: ["ignore", "ignore", "pipe"],
  env: { ...process.env, AUTOML_LOG: "debug", HF_HUB_OFFLINE: "1", HF_HUB_CACHE: join(dataDir, "hf"), HUGGINGFACE_HUB_CACHE: "" },
});
let log = "";
const base = await new Promise((ok, fail) => {
  server.stderr.on("data", (d) => {
    log += d;
    const m = /automl server on (http:\/\/[^\s/]+)\//.exec(log);
    if (m) ok(m[1]);
  });
  server.on("exit", (code) => fail(new Error(`server exited (${code})`)));
});
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
let failed = 0;
for (let i = 0; i < n; i++) {
  const page = await browser.newPage();
  await page.goto(base + "/");
  await page.fill('[data-testid="prompt"]', prompt);
  const mark = log.length;
  await page.click('[data-testid="run"]');
  await page.waitForSelector('[data-testid="project"]');
  const project = await page.textContent('[data-testid="project"]');
  try {
    await page.waitForSelector('[data-testid="error"][role="alert"], [data-testid="outcome"]', { timeout: 15000 });
  } catch {
    failed++;
    const st = await page.evaluate(() => {
      const s = globalThis.__automl.state();
      return { lastSeq: s.lastSeq, connection: s.connection, commandError: s.commandError, reconnects: s.reconnects };
    });
    console.log(`run ${i} (${project}): nothing after 15 s; page ${JSON.stringify(st)}`);
    console.log(log.slice(mark).split("\n").filter((l) => l.includes(project)).join("\n"));
  }
  await page.close();
}
console.log(`${failed} of ${n} runs never showed their end`);
await browser.close();
server.kill("SIGTERM");
await new Promise((ok) => server.once("exit", ok));
rmSync(dataDir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
