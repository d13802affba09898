// Small SVG charts: curves, scatter plots, bars, the confusion heat map and the descent path.
// Every chart scales to its container (viewBox), so none pushes the page wider than the screen.

import type { ReactNode } from "react";
import type { PathPoint, Point } from "./types";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#c026d3"];

export function color(i: number): string {
  return COLORS[((i % COLORS.length) + COLORS.length) % COLORS.length];
}

/** A short label for a number: 15M, 0.042, 3.1e-5. */
export function fmtNum(v: number): string {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e4) return new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 }).format(v);
  if (a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/** Whether values this spread read better on a log axis: all positive, the largest at least 20
 * times the smallest (on a linear axis the small end would be a flat line on the floor). */
export function wantsLog(values: number[]): boolean {
  const v = values.filter((x) => isFinite(x));
  if (v.length < 2 || v.some((x) => x <= 0)) return false;
  return Math.max(...v) / Math.min(...v) >= 20;
}

export function extent(vals: number[]): [number, number] {
  const v = vals.filter((x) => isFinite(x));
  if (v.length === 0) return [0, 1];
  let lo = Math.min(...v);
  let hi = Math.max(...v);
  if (lo === hi) {
    const d = lo === 0 ? 0.5 : Math.abs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
  return [lo, hi];
}

/** About `n` round tick values covering [lo, hi]. */
export function linearTicks(lo: number, hi: number, n = 4): number[] {
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** Powers of ten inside [lo, hi], with 2× and 5× when fewer than three powers fit. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const inside = (t: number) => t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9);
  const pick = (mults: number[]) => {
    const out: number[] = [];
    for (let e = a; e <= b; e++) for (const m of mults) if (inside(m * Math.pow(10, e))) out.push(Number((m * Math.pow(10, e)).toPrecision(12)));
    return out;
  };
  const powers = pick([1]);
  return powers.length >= 3 ? powers : pick([1, 2, 5]);
}

interface Axis {
  lo: number;
  hi: number;
  log?: boolean;
  label: string;
}

const W = 440;
const H = 260;
const PAD = { l: 52, r: 12, t: 10, b: 36 };

/** An axis frame: ticks, grid and labels; `children` draw inside with the scales given. */
function Frame({
  x,
  y,
  label,
  testid,
  children,
}: {
  x: Axis;
  y: Axis;
  label: string;
  testid?: string;
  children: (sx: (v: number) => number, sy: (v: number) => number) => ReactNode;
}) {
  const tx = (a: Axis) => (v: number) => (a.log ? Math.log10(Math.max(v, 1e-300)) : v);
  const fx = tx(x);
  const fy = tx(y);
  const [x0, x1] = [fx(x.lo), fx(x.hi)];
  const [y0, y1] = [fy(y.lo), fy(y.hi)];
  const sx = (v: number) => PAD.l + ((fx(v) - x0) / (x1 - x0 || 1)) * (W - PAD.l - PAD.r);
  const sy = (v: number) => H - PAD.b - ((fy(v) - y0) / (y1 - y0 || 1)) * (H - PAD.t - PAD.b);
  const xt = x.log ? logTicks(x.lo, x.hi) : linearTicks(x.lo, x.hi);
  const yt = y.log ? logTicks(y.lo, y.hi) : linearTicks(y.lo, y.hi);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} className="plot" role="img" aria-label={label} data-testid={testid}>
      {yt.map((t) => (
        <g key={`y${t}`}>
          <line x1={PAD.l} x2={W - PAD.r} y1={sy(t)} y2={sy(t)} stroke="#eee" />
          <text x={PAD.l - 4} y={sy(t) + 3} fontSize="10" textAnchor="end" fill="#555">{fmtNum(t)}</text>
        </g>
      ))}
      {xt.map((t) => (
        <g key={`x${t}`}>
          <line x1={sx(t)} x2={sx(t)} y1={PAD.t} y2={H - PAD.b} stroke="#f3f3f3" />
          <text x={sx(t)} y={H - PAD.b + 13} fontSize="10" textAnchor="middle" fill="#555">{fmtNum(t)}</text>
        </g>
      ))}
      <line x1={PAD.l} y1={H - PAD.b} x2={W - PAD.r} y2={H - PAD.b} stroke="#999" />
      <line x1={PAD.l} y1={PAD.t} x2={PAD.l} y2={H - PAD.b} stroke="#999" />
      <text x={(PAD.l + W - PAD.r) / 2} y={H - 4} fontSize="11" textAnchor="middle" fill="#333">{x.label}{x.log ? " (log)" : ""}</text>
      <text x={12} y={(PAD.t + H - PAD.b) / 2} fontSize="11" textAnchor="middle" fill="#333" transform={`rotate(-90 12 ${(PAD.t + H - PAD.b) / 2})`}>
        {y.label}{y.log ? " (log)" : ""}
      </text>
      <g>{children(sx, sy)}</g>
    </svg>
  );
}

export interface Series {
  key: string;
  label: string;
  points: Point[];
  color: string;
  /** Validation curves are dashed, training curves solid. */
  dashed?: boolean;
  /** Drawn faint behind the others. */
  faint?: boolean;
}

export function LineChart({
  series,
  title,
  yLabel,
  xLabel = "step",
  testid = "loss-chart",
  mark,
}: {
  series: Series[];
  title: string;
  yLabel: string;
  xLabel?: string;
  testid?: string;
  /** A point to ring (e.g. the best boosting round). */
  mark?: { step: number; value: number; label: string };
}) {
  const all = series.flatMap((s) => s.points).filter((p) => isFinite(p.value));
  if (all.length === 0) {
    return (
      <figure className="chart" data-testid={`${testid}-empty`}>
        <figcaption>{title}</figcaption>
        <p className="muted">waiting for metrics…</p>
      </figure>
    );
  }
  const values = all.map((p) => p.value);
  const log = wantsLog(values);
  const [x0, x1] = extent(all.map((p) => p.step));
  let [y0, y1] = extent(values);
  if (!log) {
    const pad = (y1 - y0) * 0.05;
    [y0, y1] = [y0 - pad, y1 + pad];
  }
  const ordered = [...series.filter((s) => s.faint), ...series.filter((s) => !s.faint)];
  return (
    <figure className="chart">
      <figcaption>{title}{log ? " — log scale (values span decades)" : ""}</figcaption>
      <Frame x={{ lo: x0, hi: x1, label: xLabel }} y={{ lo: y0, hi: y1, log, label: yLabel }} label={title} testid={testid}>
        {(sx, sy) => (
          <>
            {ordered.map((s) => {
              const pts = s.points.filter((p) => isFinite(p.value) && (!log || p.value > 0));
              return (
                <polyline
                  key={s.key}
                  className="curve"
                  data-series={s.key}
                  fill="none"
                  stroke={s.color}
                  strokeOpacity={s.faint ? 0.25 : 1}
                  strokeWidth={s.faint ? 1 : 2}
                  strokeDasharray={s.dashed ? "5 3" : undefined}
                  points={pts.map((p) => `${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(" ")}
                >
                  <title>{s.label}</title>
                </polyline>
              );
            })}
            {mark && (
              <circle cx={sx(mark.step)} cy={sy(mark.value)} r={5} fill="none" stroke="#111" strokeWidth={1.5} data-testid={`${testid}-mark`}>
                <title>{mark.label}</title>
              </circle>
            )}
          </>
        )}
      </Frame>
    </figure>
  );
}

/** A key for line styles: solid = train, dashed = validation. */
export function SplitKey() {
  return (
    <span className="splitkey muted">
      <svg width="28" height="8" aria-hidden="true"><line x1="0" y1="4" x2="28" y2="4" stroke="#333" strokeWidth="2" /></svg> train{" "}
      <svg width="28" height="8" aria-hidden="true"><line x1="0" y1="4" x2="28" y2="4" stroke="#333" strokeWidth="2" strokeDasharray="5 3" /></svg> validation
    </span>
  );
}

/** Points with an optional y = x diagonal or y = 0 line. */
export function Scatter({
  points,
  title,
  xLabel,
  yLabel,
  diagonal,
  zero,
  testid,
}: {
  points: { x: number; y: number }[];
  title: string;
  xLabel: string;
  yLabel: string;
  diagonal?: boolean;
  zero?: boolean;
  testid: string;
}) {
  let [x0, x1] = extent(points.map((p) => p.x));
  let [y0, y1] = extent(points.map((p) => p.y));
  if (diagonal) {
    [x0, x1] = [Math.min(x0, y0), Math.max(x1, y1)];
    [y0, y1] = [x0, x1];
  }
  if (zero) {
    const m = Math.max(Math.abs(y0), Math.abs(y1));
    [y0, y1] = [-m, m];
  }
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <Frame x={{ lo: x0, hi: x1, label: xLabel }} y={{ lo: y0, hi: y1, label: yLabel }} label={title} testid={testid}>
        {(sx, sy) => (
          <>
            {diagonal && <line x1={sx(x0)} y1={sy(x0)} x2={sx(x1)} y2={sy(x1)} stroke="#9ca3af" strokeDasharray="4 3" />}
            {zero && <line x1={sx(x0)} y1={sy(0)} x2={sx(x1)} y2={sy(0)} stroke="#9ca3af" strokeDasharray="4 3" />}
            {points.map((p, i) => (
              <circle key={i} className="dot" cx={sx(p.x).toFixed(1)} cy={sy(p.y).toFixed(1)} r={2.2} fill="#2563eb" fillOpacity={0.45} />
            ))}
          </>
        )}
      </Frame>
    </figure>
  );
}

/** A curve on the unit square (ROC, precision-recall). */
export function UnitCurve({
  x,
  y,
  title,
  xLabel,
  yLabel,
  chance,
  testid,
}: {
  x: number[];
  y: number[];
  title: string;
  xLabel: string;
  yLabel: string;
  /** The chance line: "diagonal" (ROC) or a constant precision (PR). */
  chance: "diagonal" | number;
  testid: string;
}) {
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <Frame x={{ lo: 0, hi: 1, label: xLabel }} y={{ lo: 0, hi: 1, label: yLabel }} label={title} testid={testid}>
        {(sx, sy) => (
          <>
            {chance === "diagonal" ? (
              <line x1={sx(0)} y1={sy(0)} x2={sx(1)} y2={sy(1)} stroke="#9ca3af" strokeDasharray="4 3" />
            ) : (
              <line x1={sx(0)} y1={sy(chance)} x2={sx(1)} y2={sy(chance)} stroke="#9ca3af" strokeDasharray="4 3" />
            )}
            <polyline
              className="curve"
              fill="none"
              stroke="#2563eb"
              strokeWidth={2}
              points={x.map((v, i) => `${sx(v).toFixed(1)},${sy(y[i]).toFixed(1)}`).join(" ")}
            />
          </>
        )}
      </Frame>
    </figure>
  );
}

/** Horizontal bars, largest first. */
export function Bars({ items, title, testid, max = 12 }: { items: { label: string; value: number }[]; title: string; testid: string; max?: number }) {
  const shown = items.slice(0, max);
  const top = Math.max(...shown.map((i) => Math.abs(i.value)), 1e-12);
  return (
    <figure className="chart bars" data-testid={testid}>
      <figcaption>{title}</figcaption>
      <ul>
        {shown.map((it) => (
          <li key={it.label} className="bar">
            <span className="bar-label" title={it.label}>{it.label}</span>
            <span className="bar-track">
              <span className="bar-fill" style={{ width: `${(Math.abs(it.value) / top) * 100}%` }} />
            </span>
            <span className="bar-value">{fmtNum(it.value)}</span>
          </li>
        ))}
      </ul>
      {items.length > max && <p className="muted">and {items.length - max} more, each smaller</p>}
    </figure>
  );
}

/** The confusion matrix as a heat map: rows are true classes, shade is the row's share. */
export function ConfusionHeatmap({ labels, matrix }: { labels: string[]; matrix: number[][] }) {
  return (
    <figure className="chart">
      <figcaption>Confusion matrix (rows: true class, columns: predicted; shade: share of the row)</figcaption>
      <div className="scroll-x">
        <table className="heatmap" data-testid="confusion">
          <thead>
            <tr><th scope="col"><span className="sr-only">true \ predicted</span></th>{labels.map((l) => <th key={l} scope="col">{l}</th>)}</tr>
          </thead>
          <tbody>
            {matrix.map((row, i) => {
              const sum = row.reduce((a, b) => a + b, 0) || 1;
              return (
                <tr key={i}>
                  <th scope="row">{labels[i]}</th>
                  {row.map((v, j) => {
                    const share = v / sum;
                    const hue = i === j ? 142 : 0;
                    const bg = v === 0 ? "#fafafa" : `hsla(${hue}, 70%, 45%, ${0.12 + 0.78 * share})`;
                    return (
                      <td key={j} style={{ background: bg, color: share > 0.55 ? "#fff" : "#111" }} title={`true ${labels[i]}, predicted ${labels[j]}: ${v} (${Math.round(share * 100)} %)`}>
                        {v}
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

export function DescentPath({ run, points }: { run: string | null; points: PathPoint[] }) {
  if (!run || points.length === 0) {
    return (
      <figure className="chart">
        <figcaption>Descent path</figcaption>
        <p className="muted">no iterative model yet</p>
      </figure>
    );
  }
  const [x0, x1] = extent(points.map((p) => p.x));
  const [y0, y1] = extent(points.map((p) => p.y));
  const [l0, l1] = extent(points.map((p) => p.loss));
  const shade = (l: number) => `hsl(${Math.round(220 - 200 * ((l1 - l) / (l1 - l0 || 1)))}, 70%, 45%)`;
  return (
    <figure className="chart">
      <figcaption>Descent path of {run} (two main directions of its parameter trajectory; colour = loss, red is low)</figcaption>
      <Frame x={{ lo: x0, hi: x1, label: "direction 1" }} y={{ lo: y0, hi: y1, label: "direction 2" }} label="descent path" testid="descent-path">
        {(sx, sy) => (
          <>
            <polyline fill="none" stroke="#6b7280" strokeOpacity={0.5} points={points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")} />
            {points.map((p, j) => (
              <circle key={j} cx={sx(p.x)} cy={sy(p.y)} r={j === points.length - 1 ? 4 : 2} fill={shade(p.loss)} />
            ))}
          </>
        )}
      </Frame>
    </figure>
  );
}
