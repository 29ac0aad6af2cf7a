"""The Hydra apps of collapse-sim (``python -m experiments.<app>``).

Their configs live in the repository's top-level ``conf/``; a wheel ships that directory
inside the package as ``experiments/conf`` (see setup.py), so the apps find their configs
from a source checkout, an editable install and a non-editable one alike.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONF_DIR"]


def _config_dir() -> Path:
    """``experiments/conf`` when installed from a wheel, else ``conf/`` beside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "run.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"the apps' configs (run.yaml) are neither in {here / 'conf'} "
                            f"nor in {here.parent / 'conf'}: reinstall collapse-sim")


CONF_DIR = _config_dir()
"""The directory of the apps' Hydra configs (an absolute path)."""
