"""automl.parse gives the same intent as `automl parse --json` (one core call, parse_prompt)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import automl

from conftest import REPO

CLI = REPO / "target" / "debug" / "automl"

PROMPTS = [
    "classify iris species",
    "predict house prices from square footage, optimise RMSE, 30 seconds",
    "which customers will churn? maximise roc auc within 2 minutes",
    "classify photos of cats and dogs",
    "write me a poem",
]


@pytest.fixture()
def embedded_env(monkeypatch):
    # The embedded parser on both sides: no LLM configured.
    for k in [k for k in os.environ if k.startswith("AUTOML_LLM")]:
        monkeypatch.delenv(k)
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_LLM")}


@pytest.mark.parametrize("prompt", PROMPTS)
def test_parse_matches_the_cli(prompt, embedded_env):
    # CI (and scripts/test.sh) build the CLI before this suite; elsewhere say how to get it.
    if not CLI.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CLI} is missing: the CLI side of the comparison was not built")
        pytest.skip(f"{CLI} is not built (cargo build --workspace)")
    out = subprocess.run([str(CLI), "parse", prompt, "--json"], capture_output=True, text=True,
                         env=embedded_env, timeout=60, check=False)
    parsed = automl.parse(prompt)
    # `automl parse` exits 2 for a request automl does not train (a poem is generation).
    assert out.returncode == (0 if parsed["supported"] else 2), out.stderr
    assert parsed == json.loads(out.stdout)


def test_parse_returns_the_intent(embedded_env):
    intent = automl.parse("classify iris species")
    assert intent["task_type"] == "tabular_classification" and intent["supported"] is True
    with pytest.raises(automl.OptionError) as e:
        automl.parse("x" * 100_000)
    assert e.value.category == "invalid_option"
