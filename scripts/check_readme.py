"""Run the README as a newcomer would, after its two set-up commands.

Usage: .venv/bin/python scripts/check_readme.py   (from the repository root; `.ci/run` runs it)

- Every command of the README's ``bash`` blocks runs as written, in order, from the
  repository root, except those listed in SKIPPED (each with the reason: the set-up
  commands CI has just run, jobs of hours, a cluster, the user's own data).
- The ``python`` blocks run in order in one interpreter; the block that defines
  ``my_metrics.py`` is written to a scratch directory on the path, as a user would save it.
- An example output block (a plain fence whose rows start with a metric name) must match,
  row for row, the output of one command of the bash block before it: the README's
  numbers come from the code.
- Afterwards nothing is left outside the documented output directories (`results/`,
  `outputs/`): no untracked file, no ignored one elsewhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {  # a substring of the command -> why it is not run here
    "python3 -m venv": "the set-up commands: CI has just run them",
    "sweep=paper": "the paper's 10,000-trial sweep: hours on 2 cores",
    "results/paper/": "reads the paper sweep's results",
    "sweep.n_trials=1000": "1,000 trials: minutes; the same code as the quick sweep",
    "sweep=vcc": "200 trials scored by cell-eval: about half an hour on 2 cores",
    "counts=screen.h5ad": "needs your own screen",
    "truth=screen.h5ad": "needs your own screen and a model's predictions",
    "data=screen.h5ad": "needs your own screen",
    "submitit_slurm": "needs a Slurm cluster",
    "sweep=loss": "the training sweep: minutes on 2 cores; tests/test_train_app.py runs the "
                  "same code on two trials",
}
OUTPUTS = ("results/", "outputs/")  # where the README says commands write
TOOLING = (".venv/", "collapse_sim.egg-info/", ".ruff_cache/", ".pytest_cache/")
FENCE = re.compile(r"^( *)```(\w*)\s*$")
# a row of a printed metric table: a name, then two decimal numbers (or n/a); not the
# timing line above the table ("simulated 4,020 cells ... in 0.3 s"), which varies by run
ROW = re.compile(r"^[a-z][a-z0-9_.]*\s+(-?\d+\.\d+|n/a)\s+(-?\d+\.\d+|n/a)\s")


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, indented fences included."""
    found, language, body, indent = [], None, [], 0
    for line in text.splitlines():
        fence = FENCE.match(line)
        if fence and language is None:
            language, body, indent = fence.group(2) or "text", [], len(fence.group(1))
        elif fence and len(fence.group(1)) == indent:
            found.append((language, "\n".join(body)))
            language = None
        elif language is not None:
            body.append(line[indent:])
    return found


def commands(body: str) -> list[str]:
    """The commands of a bash block, continuation lines joined."""
    return [c.strip() for c in body.replace("\\\n", " ").splitlines() if c.strip()]


def run(command: str, env: dict[str, str]) -> str:
    print(f"$ {command}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"README command failed ({done.returncode}): {command}\n{done.stderr}")
    print(f"  ok in {time.perf_counter() - started:.0f} s (the README's stated times)")
    return done.stdout


def check_rows(expected: str, outputs: dict[str, str]) -> None:
    rows = [row.rstrip() for row in expected.splitlines() if ROW.match(row)]
    for output in outputs.values():
        if set(rows) <= {line.rstrip() for line in output.splitlines()}:
            return
    sys.exit("README example output is not what its commands print now:\n" + "\n".join(rows)
             + "\n--- printed:\n" + "\n---\n".join(outputs.values()))


def leftovers() -> list[str]:
    status = subprocess.run(["git", "status", "--porcelain", "--ignored",
                             "--untracked-files=all"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    return [line for line in status if line.startswith(("??", "!!"))
            and not line[3:].startswith(OUTPUTS + TOOLING) and "__pycache__/" not in line]


def main() -> None:
    before = set(leftovers())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    python_blocks, outputs = [], {}  # the last bash block's outputs, by command
    with tempfile.TemporaryDirectory() as scratch:
        env["PYTHONPATH"] = scratch  # where a user keeps my_metrics.py
        for language, body in blocks((ROOT / "README.md").read_text()):
            if language == "bash":
                outputs = {}
                for command in commands(body):
                    reason = next((why for key, why in SKIPPED.items() if key in command), None)
                    if reason:
                        print(f"skipped ({reason}): {command}")
                        continue
                    outputs[command] = run(command, env)
            elif language == "python":
                if body.lstrip().startswith("import numpy as np\n\n\ndef top_k_direction"):
                    (Path(scratch) / "my_metrics.py").write_text(body + "\n")
                python_blocks.append(body)
            elif language == "text" and any(ROW.match(line) for line in body.splitlines()):
                check_rows(body, outputs)
        print("$ the README's Python blocks, in order", flush=True)
        done = subprocess.run([sys.executable, "-"], input="\n\n".join(python_blocks),
                              cwd=scratch, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            sys.exit(f"README Python blocks failed:\n{done.stderr}")
    new = sorted(set(leftovers()) - before)
    if new:
        sys.exit("README commands left files outside results/ and outputs/:\n" + "\n".join(new))
    print("every README command ran as written; example outputs match; nothing left behind")


if __name__ == "__main__":
    main()
