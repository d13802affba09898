// One WebSocket per project, reopened by itself after a drop, resuming from the store's last
// seq (`?since=`), so the UI misses nothing and applies nothing twice.

import { useStore } from "./store";
import type { Envelope } from "./types";
import { projectHref } from "./views";

const PING_MS = 15000;

export class ProjectSocket {
  private ws: WebSocket | null = null;
  private stopped = false;
  private retryMs = 250;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ping: ReturnType<typeof setInterval> | null = null;
  private queue: Envelope[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private pausedUntil = 0;
  private opened = false;

  constructor(private readonly projectId: string) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ping) clearInterval(this.ping);
    this.ws?.close(1000, "client left");
    this.ws = null;
  }

  /** Drops the connection as a network failure would, and stays away for `pauseMs`. */
  kill(pauseMs = 0): void {
    this.pausedUntil = Date.now() + pauseMs;
    this.ws?.close(4000, "dropped by the client");
  }

  private url(): string {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const since = useStore.getState().lastSeq;
    return `${proto}://${location.host}/ws/projects/${encodeURIComponent(this.projectId)}?since=${since}`;
  }

  private open(): void {
    if (this.stopped) return;
    const st = useStore.getState();
    st.setConnection(this.opened ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      const wasOpened = this.opened;
      this.opened = true;
      this.retryMs = 250;
      useStore.getState().setConnection("open", wasOpened);
      if (this.ping) clearInterval(this.ping);
      this.ping = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping" }));
      }, PING_MS);
    };
    ws.onmessage = (m) => {
      let v: any;
      try {
        v = JSON.parse(typeof m.data === "string" ? m.data : "");
      } catch {
        return;
      }
      if (v && v.type === "event") this.enqueue(v as Envelope);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.flush();
      if (this.ping) clearInterval(this.ping);
      this.ws = null;
      if (this.stopped) return;
      useStore.getState().setConnection("reconnecting");
      const wait = Math.max(this.retryMs, this.pausedUntil - Date.now());
      this.retryMs = Math.min(this.retryMs * 2, 5000);
      this.timer = setTimeout(() => this.open(), wait);
    };
  }

  // Envelopes are applied in batches so that a fast stream does not render once per event.
  private enqueue(e: Envelope): void {
    this.queue.push(e);
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), 30);
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    useStore.getState().apply(batch);
  }
}

let current: ProjectSocket | null = null;

/** Follows `projectId` (closing the previous project's socket). */
export function follow(projectId: string): ProjectSocket {
  current?.stop();
  useStore.getState().reset(projectId);
  current = new ProjectSocket(projectId);
  current.start();
  // The project id in the address: a reload (or a restarted server) rebuilds the same view
  // from the same events, and the address can be bookmarked or shared.
  const href = projectHref(projectId);
  if (location.hash !== href) history.pushState(null, "", href);
  return current;
}

// A hook for end-to-end tests: drop the socket as a network failure would.
(globalThis as any).__automl = {
  killSocket: (pauseMs = 0) => current?.kill(pauseMs),
  state: () => useStore.getState(),
};
