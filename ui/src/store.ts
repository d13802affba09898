// The UI's one store. It changes only by applying events from the WebSocket (the single source
// of truth) and by connection bookkeeping; commands go over HTTP and their effects come back
// as events.

import { create } from "zustand";
import { emptyState, reduce, type ProjectState } from "./reduce";
import type { Envelope } from "./types";

export type Connection = "idle" | "connecting" | "open" | "reconnecting";

export interface Store extends ProjectState {
  connection: Connection;
  /** How many times the socket was reopened after a drop. */
  reconnects: number;
  /** A command's error (HTTP), shown until the next command. */
  commandError: string | null;
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
