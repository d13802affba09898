// The training panel: curves of the picked trials, boosting rounds or the descent path, and
// the leaderboard as a compact sortable table.

import { useMemo, useState } from "react";
import { DescentPath, LineChart, SplitKey, fmtNum } from "./charts";
import { useStore } from "./store";
import {
  boostingRounds,
  curveRunId,
  curveMetrics,
  curveSeries,
  isTreeRun,
  paramLine,
  sortedLeaderboard,
  type LeaderSort,
} from "./views";

export function TrainingDashboard() {
  const s = useStore();
  const { runs, paths, lastPathRun, leaderboard } = s;
  const [metricPick, setMetric] = useState("loss");
  const [pick, setPick] = useState("best");
  const [sort, setSort] = useState<LeaderSort>({ by: "score", descending: false });
  const metrics = useMemo(() => curveMetrics(s), [s.curves]);
  const metric = metrics.includes(metricPick) ? metricPick : metrics[0] ?? "loss";
  const series = useMemo(() => curveSeries(s, metric, pick), [s.curves, s.runs, s.leaderboard, s.review, metric, pick]);
  const rows = useMemo(() => sortedLeaderboard(s, sort), [s.leaderboard, s.runs, sort]);
  const runIds = Object.keys(runs);
  if (runIds.length === 0) return null;
  // For an ensemble, the curves of its heaviest member (the ensemble trains nothing itself).
  const best = curveRunId(s);
  const focus = pick === "best" || pick === "all" ? best : pick;
  const tree = isTreeRun(s, focus);
  const rounds = tree && focus ? boostingRounds(s, focus) : null;
  const pathRun = focus && paths[focus]?.length ? focus : lastPathRun;
  const sortBy = (by: LeaderSort["by"]) =>
    setSort((cur) => (cur.by === by ? { by, descending: !cur.descending } : { by, descending: false }));
  // In rank order the scores descend when higher is better; the times ascend.
  const ariaSort = (by: LeaderSort["by"]): "ascending" | "descending" | "none" => {
    if (sort.by !== by) return "none";
    const up = by === "time" || !leaderboard?.higher_is_better;
    return up !== sort.descending ? "ascending" : "descending";
  };
  const arrow = (by: LeaderSort["by"]) => (sort.by !== by ? "" : ariaSort(by) === "ascending" ? " ▲" : " ▼");
  const focusLabel = focus ? `${focus} ${runs[focus]?.model ?? ""}` : "";
  return (
    <section aria-labelledby="training-h">
      <h2 id="training-h">Training</h2>
      <div className="controls">
        <label>
          Metric{" "}
          <select data-testid="metric-picker" value={metric} onChange={(e) => setMetric(e.target.value)}>
            {(metrics.length ? metrics : ["loss"]).map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </label>
        <label>
          Trials{" "}
          <select data-testid="trial-picker" value={pick} onChange={(e) => setPick(e.target.value)}>
            <option value="best">best so far{best ? ` (${best} ${runs[best]?.model ?? ""})` : ""}</option>
            <option value="all">all {runIds.length} trials (best in front)</option>
            {runIds.map((r) => (
              <option key={r} value={r}>{r} {runs[r].model}{runs[r].status === "running" ? " (running)" : ""}</option>
            ))}
          </select>
        </label>
        <SplitKey />
      </div>
      <div className="charts">
        <LineChart
          series={series}
          title={pick === "all" ? `${metric} of every trial` : `${metric} of ${focusLabel}`}
          yLabel={metric}
        />
        {tree && rounds ? (
          <LineChart
            testid="boosting-chart"
            series={
              focus
                ? [{ key: `${focus}/valid`, label: `${focus} validation loss`, points: rounds.points, color: "#ea580c", dashed: true, faint: false }]
                : []
            }
            title={`Validation loss per boosting round of ${focusLabel}${rounds.best ? ` (lowest ${fmtNum(rounds.best.value)} at round ${rounds.best.step})` : ""}`}
            yLabel="validation loss"
            xLabel="boosting round"
            mark={rounds.best ? { ...rounds.best, label: `lowest at round ${rounds.best.step}` } : undefined}
          />
        ) : (
          <DescentPath run={pathRun} points={pathRun ? paths[pathRun] ?? [] : []} />
        )}
      </div>
      {leaderboard && (
        <div className="scroll-x">
          <table className="small leaderboard" data-testid="leaderboard">
            <caption className="muted">Leaderboard: validation {leaderboard.metric} ({leaderboard.higher_is_better ? "higher" : "lower"} is better)</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">trial</th>
                <th scope="col">model</th>
                <th scope="col" aria-sort={ariaSort("score")}>
                  <button type="button" className="link" data-testid="sort-score" onClick={() => sortBy("score")}>
                    {leaderboard.metric}{arrow("score")}
                  </button>
                </th>
                <th scope="col" aria-sort={ariaSort("time")}>
                  <button type="button" className="link" data-testid="sort-time" onClick={() => sortBy("time")}>
                    time{arrow("time")}
                  </button>
                </th>
                <th scope="col">parameters</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.run_id} className={r.run_id === focus ? "focus" : undefined}>
                  <td>{r.rank}</td>
                  <td>
                    <button type="button" className="link" title="show this trial's curves" onClick={() => setPick(r.run_id)}>{r.run_id}</button>
                  </td>
                  <td>{r.model}</td>
                  <td className="num">{fmtNum(r.score)}</td>
                  <td className="num">{r.duration_s == null ? "–" : r.duration_s < 0.1 ? `${Math.round(r.duration_s * 1000)} ms` : `${r.duration_s.toFixed(1)} s`}</td>
                  <td className="params">
                    {Object.keys(r.params).length === 0 ? (
                      <span className="muted">–</span>
                    ) : (
                      <details>
                        <summary>{Object.keys(r.params).length} parameters</summary>
                        <code>{paramLine(r.params)}</code>
                      </details>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
