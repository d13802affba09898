import { useState } from "react";
import { artifactUrl, cancel, newProjectId, sampleUrl, startDemo, uploadAndTrain, uploadToWaitingRun } from "./api";
import { ProjectList } from "./projects";
import { isEnded } from "./reduce";
import { Review } from "./review";
import { follow } from "./socket";
import { useStore } from "./store";
import { TrainingDashboard } from "./training";
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
  const [budget, setBudget] = useState("");
  const [busy, setBusy] = useState(false);
  const setErr = useStore((s) => s.setCommandError);
  const go = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!prompt.trim()) return;
    setBusy(true);
    setErr(null);
    const budgetS = Number(budget) > 0 ? Number(budget) : undefined;
    const id = newProjectId();
    // Follow first: the socket replays from seq 1, so nothing is missed either way.
    follow(id);
    try {
      if (file) await uploadAndTrain(id, prompt, file, target, review, budgetS);
      else await startDemo(id, prompt, review, budgetS);
      void useStore.getState().refreshProjects();
    } catch (err) {
      setErr(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="prompt" onSubmit={go} aria-label="new project">
      <div className="prompt-row">
        <label className="sr-only" htmlFor="prompt-input">What should the model do?</label>
        <input
          id="prompt-input"
          data-testid="prompt"
          value={prompt}
          placeholder='What should the model do? e.g. "classify iris species"'
          onChange={(e) => setPrompt(e.target.value)}
        />
        <button type="submit" data-testid="run" disabled={busy}>Run</button>
      </div>
      <details>
        <summary>options and your own data</summary>
        <div className="options">
          <label>
            time budget (s){" "}
            <input type="number" min={1} max={86400} step={1} inputMode="numeric" data-testid="budget" value={budget} placeholder="default" onChange={(e) => setBudget(e.target.value)} />
          </label>
          <label>
            <input type="checkbox" data-testid="review-toggle" checked={review} onChange={(e) => setReview(e.target.checked)} /> review before export
          </label>
          <label>
            file (.csv, .tsv, .zip of images){" "}
            <input type="file" accept=".csv,.tsv,.zip" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
          </label>
          <label>
            target column <input value={target} onChange={(e) => setTarget(e.target.value)} />
          </label>
        </div>
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

/** No data set fits the request: the run waits at DATA_SOURCE until a file is uploaded here,
 * then continues with it. */
function UploadWait() {
  const { stages, projectId } = useStore();
  const setErr = useStore((s) => s.setCommandError);
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const st = stages.DATA_SOURCE;
  if (st.status !== "waiting" || !projectId) return null;
  const send = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setErr(null);
    try {
      await uploadToWaitingRun(projectId, file);
    } catch (err) {
      setErr(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section data-testid="upload-wait" aria-labelledby="upload-h">
      <h2 id="upload-h">Your data, please</h2>
      <p className="muted">{st.message}</p>
      <form onSubmit={send} className="prompt-row">
        <label>
          file (.csv, .tsv, .zip of images){" "}
          <input type="file" data-testid="upload-file" accept=".csv,.tsv,.zip" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </label>
        <button type="submit" data-testid="upload-continue" disabled={busy || !file}>Upload and continue</button>
      </form>
    </section>
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
        <div className="scroll-x">
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
        </div>
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
      <div className="scroll-x">
      <table className="small" data-testid="table-preview">
        <thead><tr>{cols.map((c) => <th key={c}>{c}</th>)}</tr></thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>{cols.map((c) => <td key={c}>{fmt(r[c])}</td>)}</tr>
          ))}
        </tbody>
      </table>
      </div>
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

/** The open project's request, as the project list knows it. */
function ProjectTitle() {
  const id = useStore((s) => s.projectId);
  const entry = useStore((s) => s.projects.find((p) => p.id === s.projectId));
  if (!id || !entry?.prompt) return null;
  return (
    <h2 className="project-title" data-testid="project-title">
      “{entry.prompt}” <span className={`badge ${entry.status}`}>{entry.status}</span>
    </h2>
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
    </div>
  );
}

/** Errors and WARNING events, right under the prompt where the eye already is. */
function Alerts() {
  const error = useStore((s) => s.error);
  const commandError = useStore((s) => s.commandError);
  const warnings = useStore((s) => s.warnings);
  const setErr = useStore((s) => s.setCommandError);
  if (!error && !commandError && warnings.length === 0) return null;
  return (
    <div className="alerts">
      {error && (
        <div className="alert error-box" role="alert" data-testid="error">
          <b>The run failed{error.stage ? ` at ${error.stage.replace("_", " ").toLowerCase()}` : ""}:</b> {error.message}{" "}
          <span className="muted">({error.code})</span>
        </div>
      )}
      {commandError && (
        <div className="alert error-box" role="alert" data-testid="command-error">
          {commandError}{" "}
          <button type="button" className="small-button" onClick={() => setErr(null)} aria-label="dismiss">×</button>
        </div>
      )}
      {warnings.length > 0 && (
        <div className="alert warning-box" role="status" data-testid="warnings">
          <b>{warnings.length === 1 ? "1 warning" : `${warnings.length} warnings`}</b>
          <ul>
            {warnings.slice(-5).map((w) => (
              <li key={w.seq} data-code={w.code}>{w.message} <span className="muted">({w.code})</span></li>
            ))}
          </ul>
          {warnings.length > 5 && <p className="muted">and {warnings.length - 5} earlier (see events.jsonl)</p>}
        </div>
      )}
    </div>
  );
}

export default function App() {
  return (
    <div className="layout">
      <header className="top">
        <h1>automl</h1>
        {/* On a phone the list sits below the run; this takes the user there. */}
        <button type="button" className="small-button to-projects" onClick={() => document.getElementById("projects-h")?.scrollIntoView()}>
          Projects ↓
        </button>
      </header>
      <aside className="side">
        <ProjectList />
      </aside>
      <main>
        <PromptBox />
        <ProjectTitle />
        <StatusBar />
        <Alerts />
        <Timeline />
        <UploadWait />
        <DatasetPane />
        <ProfileAndModels />
        <TrainingDashboard />
        <Review />
        <Downloads />
      </main>
    </div>
  );
}
