"""``--help`` lists the options and keys a user sets, each with one line."""

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from experiments.help import described_keys
from simulator.model import KNOBS

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def app_help(app):
    done = subprocess.run([sys.executable, "-m", f"experiments.{app}", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("app", ["run", "sweep", "figures", "fit_priors", "score", "realdata",
                                 "simulate_screen", "train"])
def test_help_lists_every_key_of_the_app_with_its_description(app):
    text = app_help(app)
    rows = {line.split("=")[0].strip(): line for line in text.splitlines()
            if line.startswith("  ") and "=" in line}
    own = [key for key in OmegaConf.load(CONF / f"{app}.yaml")
           if key not in ("defaults", "hydra")]
    for key in own:  # every top-level key, each with a description
        row = next((r for k, r in rows.items() if k == key or k.startswith(key + ".")), None)
        assert row is not None and len(row.split(None, 1)[1].strip()) > 10, (key, text)
    assert "=schema" not in text and "Override anything" not in text  # no Hydra internals
    if app in ("run", "sweep"):
        for name, knob in KNOBS.items():
            assert any(r.startswith(f"  sim.{name}=") and knob.meaning in r
                       for r in rows.values()), name
        assert "  metrics=paper" in text and "  predictors=default *" in text


def test_a_key_is_described_by_its_comment_or_the_comment_above(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("defaults:\n  - x\n# above\n# two lines\na: 1\nb: 2   # trailing\n"
                    "# a group\nc:\n  d: 3\nhydra:\n  run: {dir: .}\n")
    assert described_keys(path) == [("a", "1", "above two lines"), ("b", "2", "trailing"),
                                    ("c.*", "", "a group"), ("c.d", "3", "")]
