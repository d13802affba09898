"""Live progress of a run: a fold of its events into a small state, drawn either as HTML that a
Jupyter output updates in place (stage list, progress bar, loss curve, leaderboard) or as plain
text lines in a terminal. Presentation only: every fact comes from the events."""

from __future__ import annotations

import html
import sys
import time
from typing import Any, Dict, List, Optional, TextIO, Tuple

STAGES = [
    "PARSE_INTENT",
    "DATA_SOURCE",
    "PROFILE_DATA",
    "PREPROCESS",
    "MODEL_SELECT",
    "TRAIN",
    "REVIEW_EDIT",
    "EXPORT",
]
_ICON = {
    "pending": "·",
    "running": "▶",
    "waiting": "⏸",
    "completed": "✓",
    "failed": "✗",
    "skipped": "–",
}


class RunState:
    """What the views draw, folded from envelopes."""

    def __init__(self) -> None:
        self.stages: Dict[str, Tuple[str, str]] = {s: ("pending", "") for s in STAGES}
        self.losses: Dict[Tuple[str, str], List[Tuple[float, float]]] = {}
        self.leaderboard: List[Dict[str, Any]] = []
        self.metric: str = ""
        self.train_progress: Optional[Tuple[float, float]] = None
        self.warnings: List[str] = []
        self.end: Optional[str] = None
        self.last_seq = 0

    def apply(self, env: Dict[str, Any]) -> None:
        self.last_seq = env.get("seq", self.last_seq)
        ev = env.get("event", {})
        name, p = ev.get("name"), ev.get("payload", {})
        if name == "STAGE_STATUS":
            self.stages[p["stage"]] = (p["status"], p.get("message", ""))
        elif name == "METRIC_SCALAR" and "loss" in str(p.get("name", "")):
            key = (str(p.get("run_id")), str(p.get("split")))
            self.losses.setdefault(key, []).append((float(p["step"]), float(p["value"])))
        elif name == "TRAIN_PROGRESS":
            self.train_progress = (float(p.get("step", 0)), float(p.get("steps") or 0))
        elif name == "LEADERBOARD_UPDATED":
            self.leaderboard = list(p.get("rows", []))
            self.metric = p.get("metric", "")
        elif name == "WARNING":
            self.warnings.append(f"{p.get('code')}: {p.get('message')}")
        elif name in ("RUN_FINISHED", "RUN_CANCELLED"):
            self.end = p.get("message", name)
        elif name == "ERROR":
            self.end = f"error ({p.get('code')}): {p.get('message')}"

    def fraction(self) -> float:
        done = sum(1 for s in STAGES if self.stages[s][0] in ("completed", "skipped", "failed"))
        frac = done / len(STAGES)
        if self.stages["TRAIN"][0] == "running" and self.train_progress:
            step, steps = self.train_progress
            if steps > 0:
                frac += min(step / steps, 1.0) / len(STAGES)
        return min(frac, 1.0)


def _svg_curves(losses: Dict[Tuple[str, str], List[Tuple[float, float]]]) -> str:
    pts = [p for series in losses.values() for p in series]
    if len(pts) < 2:
        return ""
    w, h, pad = 320, 140, 24
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (w - 2 * pad) / ((x1 - x0) or 1.0)
    sy = (h - 2 * pad) / ((y1 - y0) or 1.0)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    lines = []
    for i, ((run, split), series) in enumerate(sorted(losses.items())[-6:]):
        path = " ".join(f"{pad + (x - x0) * sx:.1f},{h - pad - (y - y0) * sy:.1f}" for x, y in series)
        lines.append(
            f'<polyline fill="none" stroke="{colours[i % len(colours)]}" stroke-width="1.5" '
            f'points="{path}"><title>{html.escape(run)} {html.escape(split)}</title></polyline>'
        )
    return (
        f'<svg width="{w}" height="{h}" style="border:1px solid #ddd">'
        f'<text x="4" y="14" font-size="11">loss {y1:.3g}</text>'
        f'<text x="4" y="{h - 6}" font-size="11">{y0:.3g}</text>' + "".join(lines) + "</svg>"
    )


def render_html(state: RunState, title: str) -> str:
    rows = "".join(
        f"<tr><td>{_ICON.get(st, '?')}</td><td>{s}</td><td>{html.escape(st)}</td>"
        f"<td style='color:#666'>{html.escape(msg)}</td></tr>"
        for s in STAGES
        for st, msg in [state.stages[s]]
    )
    board = ""
    if state.leaderboard:
        body = "".join(
            f"<tr><td>{r.get('rank')}</td><td>{html.escape(str(r.get('run_id')))}</td>"
            f"<td>{html.escape(str(r.get('model')))}</td><td>{float(r.get('score', float('nan'))):.4f}</td></tr>"
            for r in state.leaderboard[:5]
        )
        board = (
            f"<table><tr><th>#</th><th>trial</th><th>model</th><th>{html.escape(state.metric)}</th></tr>"
            f"{body}</table>"
        )
    warn = "".join(f"<div style='color:#a60'>⚠ {html.escape(w)}</div>" for w in state.warnings[-3:])
    end = f"<div><b>{html.escape(state.end)}</b></div>" if state.end else ""
    return (
        f"<div class='automl-live'><b>{html.escape(title)}</b> "
        f"<progress value='{state.fraction():.3f}' max='1' style='width:200px'></progress>"
        f"<div style='display:flex;gap:16px;align-items:flex-start'>"
        f"<table>{rows}</table><div>{_svg_curves(state.losses)}{board}</div></div>{warn}{end}</div>"
    )


class TextView:
    """One line per stage transition, finished trial and warning."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.state = RunState()
        self.stream = stream or sys.stderr

    def update(self, env: Dict[str, Any]) -> None:
        self.state.apply(env)
        ev = env.get("event", {})
        name, p = ev.get("name"), ev.get("payload", {})
        line = None
        if name == "STAGE_STATUS" and p.get("status") != "pending":
            line = f"[{self.state.fraction():4.0%}] {p['stage']:<13} {p['status']:<9} {p.get('message', '')}"
        elif name == "TRAIN_RUN_FINISHED":
            m = p.get("metrics", {})
            shown = ", ".join(f"{k} {v:.4f}" for k, v in list(m.items())[:3])
            line = f"       trial {p.get('run_id')} {p.get('model', '')} {shown}"
        elif name == "WARNING":
            line = f"  warning {p.get('code')}: {p.get('message')}"
        elif name in ("RUN_FINISHED", "RUN_CANCELLED", "ERROR"):
            line = f"{name}: {p.get('message')}"
        if line is not None:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class JupyterView:
    """An HTML output that is redrawn in place, at most every `interval` seconds."""

    def __init__(self, title: str, interval: float = 0.25) -> None:
        from IPython.display import HTML, display

        self._HTML = HTML
        self.state = RunState()
        self.title = title
        self.interval = interval
        self._last = 0.0
        self._handle = display(HTML(render_html(self.state, title)), display_id=True)

    def update(self, env: Dict[str, Any]) -> None:
        self.state.apply(env)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self._handle is not None:
            self._handle.update(self._HTML(render_html(self.state, self.title)))

    def close(self) -> None:
        self._draw()


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (not a plain IPython terminal)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def make_view(progress: Any, title: str) -> Optional[Any]:
    """`progress`: "auto" (HTML in Jupyter, text elsewhere), "html", "text", or False/None."""
    if progress is None or progress is False:
        return None
    if progress == "html" or (progress == "auto" and in_jupyter()):
        return JupyterView(title)
    if progress in ("text", "auto", True):
        return TextView()
    raise ValueError(f"progress={progress!r}: expected 'auto', 'html', 'text' or False")
