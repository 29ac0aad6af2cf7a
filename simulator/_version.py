"""The package's version, declared once: ``[project] version`` in pyproject.toml."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["version"]

DISTRIBUTION = "collapse-sim"


def version() -> str:
    """The version of this checkout's pyproject.toml, else of the installed distribution.

    A source checkout run without installing (``PYTHONPATH=.``) may sit beside an older
    installed copy whose metadata would be stale; its own pyproject.toml is the truth.
    """
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == DISTRIBUTION:
            return project["version"]
    return metadata.version(DISTRIBUTION)
