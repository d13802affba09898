// The server's projects (GET /api/projects): running, finished, failed. Each entry is a link
// to #/projects/<id>, which replays that project's events.

import { useEffect } from "react";
import { fmtNum } from "./charts";
import { useStore } from "./store";
import { projectHref } from "./views";

function when(ts: string | null): string {
  if (!ts) return "";
  const d = new Date(ts);
  if (isNaN(d.getTime())) return ts;
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function ProjectList() {
  const projects = useStore((s) => s.projects);
  const error = useStore((s) => s.projectsError);
  const refresh = useStore((s) => s.refreshProjects);
  const current = useStore((s) => s.projectId);
  const ended = useStore((s) => s.outcome !== null || s.error !== null);
  const started = useStore((s) => s.lastSeq > 0);
  // Fetch on load, when a project starts or ends, and now and then while one runs.
  useEffect(() => {
    void refresh();
  }, [current, ended, started, refresh]);
  // A queued run (`serve --redis`, no worker has started it yet) will run: keep polling for it too.
  const anyRunning = projects.some((p) => p.status === "running" || p.status === "queued");
  useEffect(() => {
    if (!anyRunning) return;
    const t = setInterval(() => void refresh(), 4000);
    return () => clearInterval(t);
  }, [anyRunning, refresh]);
  return (
    <nav className="projects" aria-labelledby="projects-h" data-testid="projects">
      <div className="projects-head">
        <h2 id="projects-h">Projects</h2>
        <button type="button" className="small-button" onClick={() => void refresh()} aria-label="refresh the project list">↻</button>
      </div>
      {error && <p className="error">project list: {error}</p>}
      {projects.length === 0 && !error && <p className="muted">No projects yet: run a prompt.</p>}
      <ul>
        {projects.map((p) => (
          <li key={p.id}>
            <a
              href={projectHref(p.id)}
              data-testid="project-link"
              data-project={p.id}
              data-status={p.status}
              aria-current={p.id === current ? "page" : undefined}
            >
              <span className="p-prompt">{p.prompt ?? p.id}</span>
              <span className="p-meta">
                <span className={`badge ${p.status}`}>{p.status}</span>
                {p.metric && <span>{p.metric.name.replace(/_/g, " ")} {fmtNum(p.metric.value)}</span>}
                <span className="muted">{when(p.started)}</span>
              </span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
