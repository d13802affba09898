// Small SVG charts: loss/metric curves and the optimiser's descent path.

import type { PathPoint, Point } from "./types";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

export function color(i: number): string {
  return COLORS[i % COLORS.length];
}

interface Series {
  label: string;
  points: Point[];
}

function extent(vals: number[]): [number, number] {
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return [lo, hi];
}

export function LineChart({ series, title, width = 420, height = 220 }: { series: Series[]; title: string; width?: number; height?: number }) {
  const pad = 34;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    return (
      <figure className="chart" data-testid="loss-chart-empty">
        <figcaption>{title}</figcaption>
        <p className="muted">waiting for metrics…</p>
      </figure>
    );
  }
  const [x0, x1] = extent(all.map((p) => p.step));
  const [y0, y1] = extent(all.map((p) => p.value));
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = (y: number) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg width={width} height={height} role="img" aria-label={title} data-testid="loss-chart">
        <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} stroke="#999" />
        <line x1={pad} y1={pad} x2={pad} y2={height - pad} stroke="#999" />
        <text x={4} y={pad} fontSize="10">{y1.toPrecision(3)}</text>
        <text x={4} y={height - pad} fontSize="10">{y0.toPrecision(3)}</text>
        <text x={width - pad} y={height - pad + 14} fontSize="10" textAnchor="end">step {x1}</text>
        {series.map((s, i) => (
          <polyline
            key={s.label}
            className="curve"
            fill="none"
            stroke={color(i)}
            strokeWidth={1.8}
            points={s.points.map((p) => `${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(" ")}
          />
        ))}
      </svg>
      <div className="legend">
        {series.map((s, i) => (
          <span key={s.label} style={{ color: color(i) }}>■ {s.label} </span>
        ))}
      </div>
    </figure>
  );
}

export function DescentPath({ run, points, width = 320, height = 240 }: { run: string | null; points: PathPoint[]; width?: number; height?: number }) {
  const pad = 20;
  // One run at a time: each run's path is projected on its own two directions.
  const entries: [string, PathPoint[]][] = run && points.length > 0 ? [[run, points]] : [];
  const all = entries.flatMap(([, p]) => p);
  if (all.length === 0) {
    return (
      <figure className="chart">
        <figcaption>Descent path</figcaption>
        <p className="muted">no iterative model yet</p>
      </figure>
    );
  }
  const [x0, x1] = extent(all.map((p) => p.x));
  const [y0, y1] = extent(all.map((p) => p.y));
  const [l0, l1] = extent(all.map((p) => p.loss));
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = (y: number) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  const shade = (l: number) => `hsl(${Math.round(220 - 200 * ((l1 - l) / (l1 - l0)))}, 70%, 45%)`;
  return (
    <figure className="chart">
      <figcaption>Descent path of {run} (two main directions of its parameter trajectory; colour = loss)</figcaption>
      <svg width={width} height={height} role="img" aria-label="descent path" data-testid="descent-path">
        {entries.map(([run, pts], i) => (
          <g key={run}>
            <polyline fill="none" stroke={color(i)} strokeOpacity={0.5} points={pts.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")} />
            {pts.map((p, j) => (
              <circle key={j} cx={sx(p.x)} cy={sy(p.y)} r={j === pts.length - 1 ? 4 : 2} fill={shade(p.loss)} />
            ))}
          </g>
        ))}
      </svg>
    </figure>
  );
}
