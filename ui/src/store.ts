// The UI's one store. It changes only by applying events from the WebSocket (the single source
// of truth) and by connection bookkeeping; commands go over HTTP and their effects come back
// as events.

import { create } from "zustand";
import { emptyState, reduce, type ProjectState } from "./reduce";
import { listProjects } from "./api";
import type { Envelope, ProjectSummary } from "./types";

export type Connection = "idle" | "connecting" | "open" | "reconnecting";

export interface Store extends ProjectState {
  connection: Connection;
  /** How many times the socket was reopened after a drop. */
  reconnects: number;
  /** A command's error (HTTP), shown until the next command. */
  commandError: string | null;
  /** This server's projects (GET /api/projects), newest first; kept across `reset`. */
  projects: ProjectSummary[];
  projectsError: string | null;
  refreshProjects: () => Promise<void>;
  apply: (envs: Envelope[]) => void;
  reset: (projectId: string | null) => void;
  setConnection: (c: Connection, reconnected?: boolean) => void;
  setCommandError: (e: string | null) => void;
}

export const useStore = create<Store>((set) => ({
  ...emptyState(),
  connection: "idle",
  reconnects: 0,
  commandError: null,
  projects: [],
  projectsError: null,
  refreshProjects: async () => {
    try {
      set({ projects: await listProjects(), projectsError: null });
    } catch (e) {
      set({ projectsError: e instanceof Error ? e.message : String(e) });
    }
  },
  apply: (envs) =>
    set((s) => {
      let st: ProjectState = s;
      for (const e of envs) st = reduce(st, e);
      return st === s ? s : { ...st };
    }),
  reset: (projectId) =>
    set({ ...emptyState(projectId), connection: "idle", reconnects: 0, commandError: null }),
  setConnection: (c, reconnected) =>
    set((s) => ({ connection: c, reconnects: s.reconnects + (reconnected ? 1 : 0) })),
  setCommandError: (e) => set({ commandError: e }),
}));
