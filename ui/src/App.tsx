import { useMemo, useState } from "react";
import { artifactUrl, cancel, confirm, newProjectId, sampleUrl, startDemo, uploadAndTrain } from "./api";
import { DescentPath, LineChart } from "./charts";
import { isEnded } from "./reduce";
import { follow } from "./socket";
import { useStore } from "./store";
import { STAGES } from "./types";

function fmt(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(4)));
  if (v === null || v === undefined) return "–";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function PromptBox() {
  const [prompt, setPrompt] = useState("classify iris species");
  const [file, setFile] = useState<File | null>(null);
  const [target, setTarget] = useState("");
  const [review, setReview] = useState(false);
  const [busy, setBusy] = useState(false);
  const setErr = useStore((s) => s.setCommandError);
  const go = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!prompt.trim()) return;
    setBusy(true);
    const id = newProjectId();
    // Follow first: the socket replays from seq 1, so nothing is missed either way.
    follow(id);
    try {
      if (file) await uploadAndTrain(id, prompt, file, target, review);
      else await startDemo(id, prompt, review);
    } catch (err) {
      setErr(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="prompt" onSubmit={go}>
      <input
        aria-label="prompt"
        data-testid="prompt"
        value={prompt}
        placeholder='What should the model do? e.g. "classify iris species"'
        onChange={(e) => setPrompt(e.target.value)}
      />
      <button type="submit" data-testid="run" disabled={busy}>Run</button>
      <details>
        <summary>your own data</summary>
        <label>
          file (.csv, .tsv, .zip of images){" "}
          <input type="file" accept=".csv,.tsv,.zip" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </label>
        <label>
          target column <input value={target} onChange={(e) => setTarget(e.target.value)} />
        </label>
        <label>
          <input type="checkbox" data-testid="review-toggle" checked={review} onChange={(e) => setReview(e.target.checked)} /> review before export
        </label>
      </details>
    </form>
  );
}

function Timeline() {
  const stages = useStore((s) => s.stages);
  return (
    <ol className="timeline" data-testid="timeline">
      {STAGES.map((st) => (
        <li key={st} className={`stage ${stages[st].status}`} data-stage={st} data-status={stages[st].status} title={stages[st].message}>
          <span className="name">{st.replace("_", " ").toLowerCase()}</span>
          <span className="status">{stages[st].status}</span>
          <span className="msg">{stages[st].message}</span>
        </li>
      ))}
    </ol>
  );
}

function DatasetPane() {
  const { candidates, rejected, selected, sample, intent, projectId } = useStore();
  if (!intent && candidates.length === 0) return null;
  return (
    <section>
      <h2>Data</h2>
      {intent && (
        <p data-testid="intent">
          Understood: <b>{intent.task_type}</b>, target <b>{intent.target ?? "?"}</b> ({intent.parser} parser, confidence {fmt(intent.confidence)})
        </p>
      )}
      {candidates.length + rejected.length > 0 && (
        <table className="small">
          <thead>
            <tr><th>data set</th><th>source</th><th>licence</th><th>verdict</th><th>why</th></tr>
          </thead>
          <tbody>
            {[...candidates, ...rejected].map((c) => (
              <tr key={`${c.source}:${c.id}`} className={c.verdict}>
                <td>{c.id}{selected?.id === c.id ? " ✓" : ""}</td><td>{c.source}</td><td>{c.license}</td><td>{c.verdict}</td><td>{c.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {sample && <DatasetPreview sample={sample} projectId={projectId} />}
    </section>
  );
}

function DatasetPreview({ sample, projectId }: { sample: any; projectId: string | null }) {
  const images: string[] = (sample.images ?? []).slice(0, 3);
  if (images.length > 0 && projectId) {
    // The event names files on the server; the server serves them by index.
    return (
      <div className="images" data-testid="image-preview">
        {images.map((path, i) => (
          <img key={path} src={sampleUrl(projectId, i)} alt={path.split("/").slice(-2).join("/")} title={path} width={96} height={96} />
        ))}
        <p className="muted">{sample.n_rows} images</p>
      </div>
    );
  }
  const cols: string[] = (sample.columns ?? []).map((c: any) => c.name);
  const rows: any[] = (sample.rows ?? []).slice(0, 5);
  return (
    <div>
      <p className="muted">{sample.n_rows} rows, {cols.length} columns; first rows:</p>
      <table className="small" data-testid="table-preview">
        <thead><tr>{cols.map((c) => <th key={c}>{c}</th>)}</tr></thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>{cols.map((c) => <td key={c}>{fmt(r[c])}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ProfileAndModels() {
  const { profile, preprocess, models } = useStore();
  if (!profile && models.length === 0) return null;
  return (
    <section>
      <h2>Profile and models</h2>
      {profile && (
        <p data-testid="profile">
          {profile.n_rows} rows × {profile.n_columns} columns; target <b>{profile.target}</b> ({profile.task}){profile.warnings?.length ? `; ${profile.warnings.length} warnings` : ""}
          {preprocess && <> — split {preprocess.split.train}/{preprocess.split.valid}/{preprocess.split.test}, {preprocess.n_features} features</>}
        </p>
      )}
      {models.length > 0 && (
        <ul className="models" data-testid="models">
          {models.map((m) => (
            <li key={m.model}>
              <b>{m.model}</b> <span className="muted">({m.family}, ~{fmt(m.estimated_cost_s)} s)</span>
              <div className="pros">+ {m.pros.join("; ")}</div>
              <div className="cons">− {m.cons.join("; ")}</div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function TrainingDashboard() {
  const { curves, paths, lastPathRun, leaderboard, runs } = useStore();
  const series = useMemo(() => {
    const out: { label: string; points: { step: number; value: number }[] }[] = [];
    for (const [run, byKey] of Object.entries(curves)) {
      for (const [key, pts] of Object.entries(byKey)) {
        if (key.startsWith("loss/")) out.push({ label: `${run} ${runs[run]?.model ?? ""} ${key.slice(5)}`, points: pts });
      }
    }
    return out;
  }, [curves, runs]);
  if (Object.keys(runs).length === 0) return null;
  return (
    <section>
      <h2>Training</h2>
      <div className="charts">
        <LineChart series={series} title="Loss" />
        <DescentPath run={lastPathRun} points={lastPathRun ? paths[lastPathRun] ?? [] : []} />
      </div>
      {leaderboard && (
        <table className="small" data-testid="leaderboard">
          <thead><tr><th>#</th><th>run</th><th>model</th><th>{leaderboard.metric}</th><th>params</th></tr></thead>
          <tbody>
            {leaderboard.rows.map((r) => (
              <tr key={r.run_id}><td>{r.rank}</td><td>{r.run_id}</td><td>{r.model}</td><td>{fmt(r.score)}</td><td>{fmt(r.params)}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Review() {
  const { review, stages, projectId } = useStore();
  const setErr = useStore((s) => s.setCommandError);
  if (!review) return null;
  const waiting = stages.REVIEW_EDIT.status === "waiting";
  const cm = review.confusion_matrix;
  return (
    <section data-testid="review">
      <h2>Review</h2>
      <p>
        Best: <b>{review.model}</b> ({review.best_run_id}) on {review.n_test} held-out rows:{" "}
        {Object.entries(review.metrics ?? {}).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")}
      </p>
      {cm && (
        <table className="small confusion">
          <thead><tr><th></th>{cm.labels.map((l: string) => <th key={l}>{l}</th>)}</tr></thead>
          <tbody>
            {cm.matrix.map((row: number[], i: number) => (
              <tr key={i}><th>{cm.labels[i]}</th>{row.map((v, j) => <td key={j}>{v}</td>)}</tr>
            ))}
          </tbody>
        </table>
      )}
      {waiting && projectId && (
        <button data-testid="confirm" onClick={() => confirm(projectId).catch((e) => setErr(String(e.message ?? e)))}>
          Confirm and export
        </button>
      )}
    </section>
  );
}

function Downloads() {
  const { artifacts, projectId } = useStore();
  if (!projectId || artifacts.length === 0) return null;
  return (
    <section>
      <h2>Downloads</h2>
      <div className="downloads" data-testid="downloads">
        {artifacts.map((a) => (
          <a key={a.name} className="button" href={artifactUrl(projectId, a.name)} download={a.name} data-artifact={a.name}>
            {a.name} <span className="muted">({a.size} B)</span>
          </a>
        ))}
        <a className="button" href={artifactUrl(projectId, "events.jsonl")} download="events.jsonl" data-artifact="events.jsonl">events.jsonl</a>
      </div>
    </section>
  );
}

function StatusBar() {
  const s = useStore();
  const running = s.projectId && !isEnded(s) && s.lastSeq > 0;
  return (
    <div className="statusbar">
      <span data-testid="connection" data-state={s.connection}>socket: {s.connection}</span>
      <span data-testid="last-seq">seq {s.lastSeq}</span>
      <span>reconnects {s.reconnects}</span>
      {s.projectId && <span data-testid="project">{s.projectId}</span>}
      {running && s.projectId && (
        <button onClick={() => cancel(s.projectId as string).catch((e) => s.setCommandError(String(e.message ?? e)))}>Cancel</button>
      )}
      {s.outcome && <b data-testid="outcome" data-kind={s.outcome.kind}>{s.outcome.kind}: {s.outcome.message}</b>}
      {s.error && <b className="error" data-testid="error">error: {s.error.message}</b>}
      {s.commandError && <b className="error">{s.commandError}</b>}
      {s.warnings.map((w, i) => <span key={i} className="warning">⚠ {w.message}</span>)}
    </div>
  );
}

export default function App() {
  return (
    <main>
      <h1>automl</h1>
      <PromptBox />
      <StatusBar />
      <Timeline />
      <DatasetPane />
      <ProfileAndModels />
      <TrainingDashboard />
      <Review />
      <Downloads />
    </main>
  );
}
