"""Ctrl-C (a real SIGINT) during a blocking wait cancels the run cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from conftest import DATASETS, REPO


def test_sigint_cancels_cleanly(tmp_path):
    script = textwrap.dedent(
        f"""
        import signal, sys, automl
        # A process started in the background by a non-interactive shell inherits SIGINT as
        # ignored, and Python then leaves it ignored: restore the handler a terminal user has.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        c = automl.Conductor(runs_dir={str(tmp_path)!r}, catalog_dir={str(REPO / 'datasets')!r})
        h = c.start("classify species", {str(DATASETS / 'tabular' / 'iris.csv')!r},
                    target="species", time_budget=20, review=True)
        for e in h.events():
            p = e["event"]["payload"]
            if e["event"]["name"] == "STAGE_STATUS" and p["status"] == "waiting":
                break
        print("waiting", flush=True)
        try:
            h.wait()  # waits at REVIEW_EDIT until Ctrl-C
        except automl.Cancelled as err:
            r = err.result
            print("cancelled", type(err.__cause__).__name__, r.status, r.events[-1]["event"]["name"],
                  "model.json" in r.artifacts, flush=True)
            sys.exit(0)
        sys.exit(3)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.strip() == "waiting", line + (p.stderr.read() if p.stderr else "")
    # Give the child time to enter h.wait() even on a loaded machine.
    time.sleep(1.5)
    os.kill(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert out.split() == ["cancelled", "KeyboardInterrupt", "cancelled", "RUN_CANCELLED", "True"], out + err
