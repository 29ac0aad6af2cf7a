"""The ``collapse-sim`` command: ``collapse-sim <app> [key=value ...]`` runs one Hydra app.

``collapse-sim run sim.n_genes=500`` is ``python -m experiments.run sim.n_genes=500``: the
rest of the command line goes to the app untouched, so Hydra's overrides, ``--multirun``,
``--help`` and ``--cfg job`` work as they do there. ``collapse-sim --help`` lists the apps.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import simulator

__all__ = ["APPS", "main"]

# command -> (module of experiments, what it does, for --help)
APPS = {
    "run": ("run", "one trial: simulate, predict, score, calibrate"),
    "sweep": ("sweep", "many trials over the design space (joblib, Dask or Slurm)"),
    "figures": ("figures", "figures and summary.md of a finished sweep"),
    "realdata": ("realdata", "the real-data stress test on your screen (.h5ad)"),
    "score": ("score", "a model's predictions for a real screen, placed between baselines"),
    "compare": ("compare", "does the simulator look like your screen? its simulated twin"),
    "train": ("train", "models trained in the loop, scored by every metric"),
    "fit-priors": ("fit_priors", "gene priors estimated from a count matrix"),
    "simulate-screen": ("simulate_screen", "a simulated screen on disk, to try the apps"),
}


def usage() -> str:
    """The text of ``collapse-sim --help``: the apps, one line each."""
    width = max(map(len, APPS))
    lines = ["usage: collapse-sim <app> [key=value ...] [--multirun] [--help]",
             "", "Stress-test perturbation-response metrics for mode collapse.", "", "apps:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in APPS.items()]
    lines += ["", "collapse-sim <app> --help lists the app's options and keys;",
              "collapse-sim --version prints the version."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app named first on the command line with the rest of it; 2 on a bad name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] == "--version":
        print(f"collapse-sim {simulator.__version__}")
        return 0
    if args[0] not in APPS:
        print(f"collapse-sim: app must be one of {', '.join(APPS)} (got {args[0]!r}); "
              "collapse-sim --help lists them", file=sys.stderr)
        return 2
    app = importlib.import_module(f"experiments.{APPS[args[0]][0]}")
    sys.argv = [f"collapse-sim {args[0]}", *args[1:]]  # what Hydra parses
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
