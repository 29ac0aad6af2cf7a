"""``--help`` of the apps: the options and keys a user sets, one line each.

Generated from what declares them, so it cannot go stale: the apps' YAML files (a key's
trailing comment, an option file's first comment line) and the knobs of `SimulationParams`
(``sim.*``) and `ProgramParams` (``effects.*``). Each app's YAML sets
``hydra.help.template: ${app_help:<app>}``.
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from experiments import CONF_DIR
from simulator.model import KNOBS, PROGRAM_KNOBS, ProgramParams, SimulationParams

__all__ = ["app_help", "described_keys"]

CONF = CONF_DIR
# groups whose keys are a parameter class's knobs: listed from the declarations
KNOB_GROUPS = {"sim": (KNOBS, SimulationParams), "effects": (PROGRAM_KNOBS, ProgramParams)}
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_]\w*):(?P<value>[^#]*?)\s*(?:#\s*(?P<doc>.*))?$")
_COLUMN = 34
_HYDRA = ("Hydra: --cfg job prints the resolved configuration; --multirun with a comma list "
          "(sim.control_bias=0,1,2)\nruns one job per value, in parallel with "
          "hydra/launcher=joblib, or as Slurm jobs with hydra/launcher=submitit_slurm.")


def described_keys(path: Path, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, comment) of each key of a YAML file: its trailing comment, else
    the comment lines just above it. A key with no value on its line (``dask:``) prefixes
    the indented keys under it, and is listed itself (``ranges.*``) when it has a comment.
    The ``defaults`` list and the ``hydra`` node are not user keys."""
    found, parents, above = [], [], []
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            above.append(line.lstrip("# ").strip())
            continue
        match = _KEY.match(line)
        doc = (match["doc"] if match and match["doc"] else " ".join(above)).strip()
        above = []
        if not match:
            continue
        depth = len(match["indent"]) // 2
        parents = parents[:depth]
        key, value = match["key"], match["value"].strip()
        if depth == 0 and key in ("defaults", "hydra"):
            parents = [None]  # skip what is nested under it too
            continue
        if None in parents:
            continue
        dotted = prefix + ".".join([*parents, key])
        if value == "":
            parents.append(key)
            if doc:
                found.append((dotted + ".*", "", doc))
            continue
        found.append((dotted, value, doc))
    return found


def _summary(path: Path) -> str:
    """The first sentence of a file's opening comment."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines)
    return re.split(r"\.\s+(?=[A-Z])", text)[0].rstrip(".;:") + "." if text else ""


def _schema(option: Path) -> str | None:
    """The schema an option file builds on: the first plain entry of its defaults list."""
    entries = OmegaConf.load(option).get("defaults", [])
    return next((str(e) for e in entries if isinstance(e, str) and e != "_self_"), None)


def _options(app: str, group: str, default: str | None) -> list[Path]:
    """The options of `group` an app can take: those built on the same schema as its
    default option, or on ``<app>_schema`` when it has none (sweep=loss is
    experiments.train's, not experiments.sweep's)."""
    options = sorted((CONF / group).glob("*.yaml"))
    wanted = _schema(CONF / group / f"{default}.yaml") if default else f"{app}_schema"
    return [option for option in options if _schema(option) == wanted]


def _row(key: str, value: str, doc: str) -> str:
    left = f"{key}={value}" if value else key
    if len(left) < _COLUMN or not doc:
        return f"  {left:<{_COLUMN}} {doc}".rstrip()
    return f"  {left}\n  {'':<{_COLUMN}} {doc}"


def app_help(app: str) -> str:
    """The ``--help`` text of ``experiments.<app>``."""
    path = CONF / f"{app}.yaml"
    config = OmegaConf.load(path)
    groups = [entry for entry in config.get("defaults", [])
              if not isinstance(entry, str) and not any(str(k).startswith("override")
                                                        for k in entry)]
    usage = path.read_text().splitlines()[0].lstrip("# ")
    lines = [usage.replace("python ", ".venv/bin/python ", 1), ""]
    if groups:
        lines.append("Option groups (group=option; * marks the default):")
        for entry in groups:
            (group, default), = entry.items()
            for option in _options(app, group, default):
                mark = "*" if option.stem == default else " "
                lines.append(_row(f"{group}={option.stem} {mark}", "", _summary(option)))
        lines.append("")
    lines.append("Keys (key=value; defaults shown):")
    own = described_keys(path)
    for key, value, doc in own:
        lines.append(_row(key, value, doc))
    overridden = {key for key, _, _ in own}  # the app's own default replaces the group's
    for entry in groups:
        (group, default), = entry.items()
        if group in KNOB_GROUPS:
            knobs, declared = KNOB_GROUPS[group]
            for name, knob in knobs.items():
                if f"{group}.{name}" in overridden:
                    continue
                value = declared.__dataclass_fields__[name].default
                shown = "null" if value is None else value
                lines.append(_row(f"{group}.{name}", str(shown), knob.meaning))
        elif default is not None:  # a group with no default option has no keys to list
            for key, value, doc in described_keys(CONF / group / f"{default}.yaml",
                                                  f"{group}."):
                lines.append(_row(key, value, doc))
    lines += ["", _HYDRA]
    return "\n".join(lines).replace("$", "$$")  # Hydra's template syntax
