// HTTP commands. Their effects arrive as events on the WebSocket.

import type { ProjectSummary } from "./types";

async function call(method: string, path: string, body?: BodyInit, json = true): Promise<any> {
  const init: RequestInit = { method, body };
  if (json && typeof body === "string") init.headers = { "Content-Type": "application/json" };
  const r = await fetch(path, init);
  const text = await r.text();
  let v: any = null;
  try {
    v = text ? JSON.parse(text) : null;
  } catch {
    v = null;
  }
  if (!r.ok) throw new Error(v?.error?.message ?? `${r.status} ${r.statusText}`);
  return v;
}

export function newProjectId(): string {
  const rand = Math.random().toString(36).slice(2, 8);
  return `p-${Date.now().toString(36)}-${rand}`;
}

export function startDemo(id: string, prompt: string, review: boolean, budgetS?: number): Promise<any> {
  const q = new URLSearchParams({ prompt });
  if (review) q.set("review", "true");
  if (budgetS) q.set("time_budget_s", String(budgetS));
  return call("POST", `/api/demo/run/${encodeURIComponent(id)}?${q}`);
}

export async function uploadAndTrain(
  id: string,
  prompt: string,
  file: File,
  target: string,
  review: boolean,
  budgetS?: number,
): Promise<any> {
  const form = new FormData();
  form.append("file", file, file.name);
  const up = await call("POST", `/api/projects/${encodeURIComponent(id)}/upload`, form, false);
  const body: Record<string, unknown> = { prompt, data: up.name, review };
  if (target.trim()) body.target = target.trim();
  if (budgetS) body.time_budget_s = budgetS;
  return call("POST", `/api/projects/${encodeURIComponent(id)}/train`, JSON.stringify(body));
}

/** A run waiting at DATA_SOURCE for data: upload the file, then answer the wait with its name
 * (the server accepts only this project's uploads there). */
export async function uploadToWaitingRun(id: string, file: File): Promise<any> {
  const form = new FormData();
  form.append("file", file, file.name);
  const up = await call("POST", `/api/projects/${encodeURIComponent(id)}/upload`, form, false);
  return call(
    "POST",
    `/api/projects/${encodeURIComponent(id)}/confirm`,
    JSON.stringify({ stage: "DATA_SOURCE", edit: { data: up.name } }),
  );
}

export function confirm(id: string, edit?: Record<string, unknown>): Promise<any> {
  return call(
    "POST",
    `/api/projects/${encodeURIComponent(id)}/confirm`,
    JSON.stringify(edit ? { stage: "REVIEW_EDIT", edit } : { stage: "REVIEW_EDIT" }),
  );
}

export function cancel(id: string): Promise<any> {
  return call("POST", `/api/projects/${encodeURIComponent(id)}/cancel`);
}

export function artifactUrl(id: string, name: string): string {
  return `/api/projects/${encodeURIComponent(id)}/artifacts/${encodeURIComponent(name)}`;
}

/** This server's projects, newest first. */
export function listProjects(): Promise<ProjectSummary[]> {
  return call("GET", "/api/projects");
}

export function misclassifiedUrl(id: string, index: number): string {
  return `/api/projects/${encodeURIComponent(id)}/misclassified/${index}`;
}

export function sampleUrl(id: string, index: number): string {
  return `/api/projects/${encodeURIComponent(id)}/sample/${index}`;
}
