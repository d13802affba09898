import { describe, expect, it } from "vitest";
import { emptyState, reduce } from "./reduce";
import type { Envelope } from "./types";

const env = (seq: number, name: string, payload: any): Envelope => ({
  type: "event",
  project_id: "p",
  seq,
  ts: "2026-11-27T10:00:00.123Z",
  event: { name, payload },
});

const stream: Envelope[] = [
  env(1, "STAGE_STATUS", { stage: "TRAIN", status: "running", message: "go" }),
  env(2, "TRAIN_RUN_STARTED", { run_id: "r-1", model: "logreg", params: {} }),
  env(3, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "train", step: 1, value: 0.9 }),
  env(4, "METRIC_SCALAR", { run_id: "r-1", name: "loss", split: "train", step: 2, value: 0.5 }),
  env(5, "GD_PATH_UPDATE", { run_id: "r-1", points: [{ x: 0, y: 0, loss: 0.9 }] }),
  env(6, "GD_PATH_UPDATE", { run_id: "r-1", points: [{ x: 1, y: 0, loss: 0.9 }, { x: 0, y: 1, loss: 0.5 }] }),
  env(7, "EXPORT_READY", { dir: "d", artifacts: [{ name: "model.json", path: "d/model.json", size: 3, sha256: "x" }] }),
  env(8, "RUN_FINISHED", { metrics: { accuracy: 1 }, model: "logreg", dir: "d", duration_s: 1, message: "done" }),
];

describe("reduce", () => {
  it("folds events into the view", () => {
    const s = stream.reduce(reduce, emptyState("p"));
    expect(s.lastSeq).toBe(8);
    expect(s.stages.TRAIN.status).toBe("running");
    expect(s.curves["r-1"]["loss/train"].map((p) => p.value)).toEqual([0.9, 0.5]);
    expect(s.paths["r-1"].map((p) => p.x)).toEqual([1, 0]); // the latest path replaces the last
    expect(s.artifacts.map((a) => a.name)).toEqual(["model.json"]);
    expect(s.outcome?.kind).toBe("finished");
  });

  it("ignores what it has already applied, so a resumed stream gives the same state", () => {
    const once = stream.reduce(reduce, emptyState("p"));
    // A reconnect that overlaps (seq 3..8 again) changes nothing.
    const twice = [...stream.slice(0, 4), ...stream.slice(2)].reduce(reduce, emptyState("p"));
    expect(twice).toEqual(once);
  });

  it("ignores other projects' events", () => {
    const s = reduce(emptyState("p"), { ...stream[0], project_id: "q" });
    expect(s.lastSeq).toBe(0);
  });
});
