"""The ``collapse-sim`` console script: one command for every Hydra app."""

import re
import subprocess
import sys
from pathlib import Path

import simulator
from experiments.command import APPS

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["sim.n_genes=200", "sim.n_perturbations=6", "sim.n_control_cells=30",
         "sim.n_cells_per_perturbation=12"]


def command(*args, module="experiments.command"):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_every_hydra_app_has_a_command_and_help_lists_them():
    apps = {path.stem for path in (ROOT / "experiments").glob("*.py")
            if "@hydra.main" in path.read_text()}
    assert {module for module, _ in APPS.values()} == apps
    done = command("--help")
    assert done.returncode == 0
    listed = re.findall(r"^  (\S+)  ", done.stdout, re.M)
    assert listed == list(APPS)


def test_a_command_runs_its_app_with_the_same_numbers(tmp_path):
    by_command = command("run", *SMALL, f"hydra.run.dir={tmp_path / 'a'}")
    by_module = command(*SMALL, f"hydra.run.dir={tmp_path / 'b'}", module="experiments.run")
    assert by_command.returncode == 0, by_command.stderr
    assert by_module.returncode == 0, by_module.stderr
    for table in ("metrics.csv", "per_perturbation.csv", "calibration.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()


def test_an_apps_own_help_and_errors_pass_through():
    helped = command("run", "--help")
    assert helped.returncode == 0 and "sim.n_genes" in helped.stdout
    bad = command("run", "sim.n_genes=-3")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "n_genes" in bad.stderr
    same = command("sim.n_genes=-3", module="experiments.run")
    assert (same.returncode, same.stderr) == (bad.returncode, bad.stderr)


def test_an_unknown_app_is_one_line_naming_the_choices():
    done = command("simulate")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "'simulate'" in done.stderr
    assert all(name in done.stderr for name in APPS)


def test_version_is_the_packages():
    done = command("--version")
    assert done.stdout.split() == ["collapse-sim", simulator.__version__]


def test_the_docs_show_the_help_as_printed():
    from experiments.command import usage

    assert f"```\n{usage()}\n```" in (ROOT / "docs" / "getting-started.md").read_text()
