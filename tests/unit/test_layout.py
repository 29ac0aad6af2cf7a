"""The package's shape: stage imports, one declaration per concept, what the docs show."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# Pipeline order: a module may import from its own stage and earlier ones only.
STAGES = {"simulator.errors": 0, "simulator.streams": 0, "simulator.progress": 0,
          "simulator.threads": 0, "simulator._version": 0,
          "simulator.model": 1, "simulator.screen": 1, "simulator.evaluation": 2,
          "simulator.resources": 2,
          "simulator": 2, "simulator.sweep": 3, "simulator.training": 3,
          "simulator.report": 4, "experiments": 5}
MAX_MODULE_LINES = 420


def modules() -> dict[str, Path]:
    """Every module of the package and the apps, by dotted name."""
    found = {}
    for package in ("simulator", "experiments"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def stage(name: str) -> int:
    """The stage of a dotted module name: its longest prefix in STAGES."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in STAGES:
            return STAGES[".".join(parts[:end])]
    raise KeyError(name)


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    """Package modules `path` imports (``from a import b`` counts as a.b when b is one)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in known else node.module)
    return {n for n in names if n.split(".")[0] in ("simulator", "experiments")}


def test_no_module_imports_from_a_later_stage():
    known = modules()
    upward = [f"{name} imports {target}" for name, path in known.items()
              for target in imported(path, known) if stage(target) > stage(name)]
    assert upward == []


def test_the_library_leaves_hydra_and_the_matplotlib_backend_to_the_apps():
    for name, path in modules().items():
        if name.startswith("simulator"):
            text = path.read_text()
            assert not re.search(r"^\s*(import|from) hydra", text, re.M), name
            assert "matplotlib.use(" not in text, name


def test_modules_stay_short():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def page(name: str) -> str:
    return (DOCS / name).read_text()


def docs_python_imports() -> list[str]:
    """Every name the README and the docs import with ``from simulator import ...``."""
    names = []
    text = "\n".join(path.read_text() for path in PAGES)
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        for group in re.findall(r"from simulator import \(?([^)\n]+(?:\n[^)\n]+)*)\)?", block):
            names += [n.strip() for n in group.replace("\n", ",").split(",") if n.strip()]
    return names


def test_every_name_the_docs_import_from_simulator_exists():
    import simulator

    names = docs_python_imports()
    assert {"GenePriors", "SimulationParams", "evaluate", "simulate", "calibrate"} <= set(names)
    assert [n for n in names if not hasattr(simulator, n)] == []
    assert set(names) <= set(simulator.__all__)


def package_imports() -> list[tuple[str, str, str]]:
    """(where, module, name) of every name the apps, scripts, benchmarks and the docs' code
    take from the package: ``from simulator.x import name`` and ``simulator.name``."""
    sources = [(path, path.read_text()) for folder in ("experiments", "scripts", "benchmarks")
               for path in sorted((ROOT / folder).rglob("*.py"))]
    for doc in PAGES:
        sources += [(doc, block) for block in re.findall(r"```python\n(.*?)```", doc.read_text(),
                                                         re.S)]
    found = []
    for path, text in sources:
        where = str(path.relative_to(ROOT))
        tree = ast.parse(text)
        bound = {alias.asname or alias.name: alias.name for node in ast.walk(tree)
                 if isinstance(node, ast.Import) for alias in node.names
                 if alias.name.split(".")[0] in ("simulator", "experiments")}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                    node.module.split(".")[0] in ("simulator", "experiments")):
                found += [(where, node.module, alias.name) for alias in node.names]
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id in bound):
                found.append((where, bound[node.value.id], node.attr))
    return found


# bench_evaluate times each predictor by wrapping the score module's internal call
INSTRUMENTED = {("benchmarks/bench_evaluate.py", "simulator.evaluation.score", "predict")}


def test_the_apps_scripts_and_docs_use_only_public_names():
    """What a module promises is its ``__all__``; the apps and the docs use nothing else."""
    import importlib.util

    uses = package_imports()
    assert {("experiments/run.py", "simulator.evaluation", "evaluate"),  # the scan sees
            ("experiments/sweep.py", "simulator", "__version__")} <= set(uses)  # both kinds
    private = []
    for where, module_name, name in set(uses) - INSTRUMENTED:
        module = importlib.import_module(module_name)
        if hasattr(module, "__path__") and importlib.util.find_spec(f"{module_name}.{name}"):
            continue  # a submodule, itself checked where its names are used
        if not (name == "__version__" or name in getattr(module, "__all__", ())):
            private.append(f"{where}: {module_name}.{name}")
    assert sorted(private) == []


def test_every_module_declares_what_it_promises():
    assert [name for name, path in modules().items()
            if not re.search(r"^__all__ = ", path.read_text(), re.M)] == []


def test_the_docs_tables_and_rules_are_generated_from_their_declarations():
    from simulator.evaluation.verdicts import TRIAL_RULES
    from simulator.model.params import markdown_table as parameter_table
    from simulator.report.figures import markdown_table as figure_table

    assert parameter_table() in page("model.md")
    assert figure_table() in page("sweeps.md")
    assert TRIAL_RULES in page("metrics.md")


def test_the_docs_report_the_committed_training_sweep_and_its_knobs():
    sys.path.insert(0, str(ROOT / "scripts"))
    from readme_tables import training_answer

    from simulator.model.programs import markdown_table as program_table

    training = page("training.md")
    assert program_table() in training
    assert training_answer() in training  # the numbers of figures/train/summary.md, as made
    for name in ("train_collapse_by_regime", "train_wmse_effect", "train_scores_by_loss"):
        assert f"figures/train/{name}.png" in training and (
            ROOT / "figures" / "train" / f"{name}.png").is_file()


def test_the_docs_report_the_committed_vcc2026_sweep():
    sys.path.insert(0, str(ROOT / "scripts"))
    from readme_tables import vcc2026_answer

    vcc = page("vcc.md")
    assert vcc2026_answer() in vcc  # the numbers of figures/vcc2026/summary.md, as made
    for name in ("vcc2026_scores", "failure_map_collapse_share"):
        assert (ROOT / "figures" / "vcc2026" / f"{name}.png").is_file()
    assert "figures/vcc2026/vcc2026_scores.png" in vcc


def test_every_simulation_parameter_has_an_axis_a_filter_and_a_schema():
    from experiments.schemas import FilterSchema, GridSchema, RangesSchema, SimSchema
    from simulator.model import KNOBS
    from simulator.model.params import NUMERIC
    from simulator.report import PARAMETERS

    assert set(PARAMETERS) == set(NUMERIC)
    assert set(FilterSchema.__dataclass_fields__) == set(PARAMETERS)
    for schema in (SimSchema, RangesSchema, GridSchema):
        assert list(schema.__dataclass_fields__) == list(KNOBS)


def test_every_spawn_key_is_declared_in_streams():
    """Random generators are made in simulator/streams.py only (figures included)."""
    for name, path in modules().items():
        if name != "simulator.streams":
            text = path.read_text()
            assert "SeedSequence(" not in text and "default_rng(" not in text, name


def test_the_configs_live_in_the_top_level_conf():
    from experiments import CONF_DIR

    assert CONF_DIR == ROOT / "conf" and (ROOT / "conf" / "sweep" / "quick.yaml").is_file()
    assert not (ROOT / "experiments" / "conf").exists()


# run an app the way `python -m` does, with the install directory as a site directory (its
# .pth files processed, as an editable install needs), from a directory without the sources
# An editable install of the checkout running the tests is set aside first: its finder would
# otherwise answer before the one under test.
_RUN_FROM_SITE = """import runpy, site, sys
for name in [m for m in sys.modules if m.startswith("__editable__")]:
    del sys.modules[name]
sys.meta_path = [f for f in sys.meta_path
                 if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path.insert(0, sys.argv[1])
site.addsitedir(sys.argv[1])
import experiments
print(experiments.__file__, experiments.CONF_DIR)
sys.argv = ["run", *sys.argv[2:]]
runpy.run_module("experiments.run", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("editable", [False, True], ids=["pip install .", "pip install -e ."])
@pytest.mark.slow
def test_an_install_finds_its_configs(tmp_path, editable):
    """`pip install .` ships the top-level conf/ as experiments/conf and `pip install -e .`
    maps it, so `python -m experiments.run` works from any directory either way."""
    source, target = tmp_path / "source", tmp_path / "site"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "results", "outputs", "build", "docs", "*.egg-info", "__pycache__"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                              "--target", str(target), *(["-e"] if editable else []),
                              str(source)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    script = target / "bin" / "collapse-sim"  # [project.scripts]
    assert "from experiments.command import main" in script.read_text()
    packaged = target / "experiments" / "conf" / "sweep" / "quick.yaml"
    assert packaged.is_file() != editable
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", _RUN_FROM_SITE, str(target), "sim.n_genes=100",
                          "sim.n_perturbations=5", "sim.n_control_cells=20",
                          "sim.n_cells_per_perturbation=10", f"hydra.run.dir={work / 'out'}"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert (work / "out" / "metrics.csv").is_file()
    module, conf = run.stdout.splitlines()[0].split()
    home = source if editable else target
    assert module == str(home / "experiments" / "__init__.py")
    assert conf == str(home / "conf" if editable else target / "experiments" / "conf")


def test_the_version_is_the_same_in_the_package_the_changelog_and_the_citation():
    import tomllib

    import simulator

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert simulator.__version__ == version
    assert f"\nversion: {version}\n" in (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^## {re.escape(version)}$", (ROOT / "CHANGELOG.md").read_text(), re.M)
