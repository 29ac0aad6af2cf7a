"""Run the README and the documentation pages as a newcomer would, after the two set-up commands.

Usage: .venv/bin/python scripts/check_readme.py   (from the repository root; `.ci/run` runs it)

The pages are README.md, then docs/index.md and the pages of its tables of contents, in
their order (a page added to a toctree is checked from then on).

- Every command of a page's ``bash`` blocks runs as written, in order, from the
  repository root, except those listed in SKIPPED (each with the reason: the set-up
  commands CI has just run, jobs of hours, a cluster, the user's own data).
- A page's ``python`` blocks run in order in one interpreter, from the repository root; the
  block that defines ``my_metrics.py`` is written to a scratch directory on the path, as a
  user would save it.
- An example output block (a plain fence whose rows start with a metric name) must match,
  row for row, the output of one command of the bash block before it: the pages'
  numbers come from the code.
- Each command the README shows inline (a code span starting with ``.venv/bin/``, as in
  its table of apps) starts one of the pages' checked commands.
- Afterwards nothing is left outside the documented output directories (`results/`,
  `outputs/`): no untracked file, no ignored one elsewhere.

A failure does not stop the check: every page is run, and all failures are listed at the
end (exit status 1).
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
    'pytest -m "not slow"': "the quick subset of the suite the set-up command has just run",
    "sweep=paper": "the paper's 10,000-trial sweep: hours on 2 cores",
    "results/paper/": "reads the paper sweep's results",
    "sweep.n_trials=1000": "1,000 trials: minutes; the same code as the quick sweep",
    "sweep=vcc2026": "120 trials scored by cell-eval2: about half an hour on 2 cores",
    "sweep=vcc": "200 trials scored by cell-eval: about half an hour on 2 cores",
    "counts=screen.h5ad": "needs your own screen",
    "truth=screen.h5ad": "needs your own screen and a model's predictions",
    "data=screen.h5ad": "needs your own screen",
    "submitit_slurm": "needs a Slurm cluster",
    "bench_compare.py": "the 300,000-cell benchmark screen (11 min) and 100 seeds (20 min)",
    "bench_slurm --seconds": "the throughput benchmark: two timed windows of minutes",
    "sweep=loss": "the training sweep: minutes on 2 cores; tests/apps/test_train_app.py runs the "
                  "same code on two trials",
}
OUTPUTS = ("results/", "outputs/")  # where the pages say commands write
TOOLING = (".venv/", "collapse_sim.egg-info/", ".ruff_cache/", ".pytest_cache/", "docs/_build/",
           "docs/api/")
# a fence: ```bash, ``` (plain text), or a MyST directive such as ```{toctree}
FENCE = re.compile(r"^( *)```\{?([\w-]*)\}?(?:\s.*)?$")
INLINE_COMMAND = re.compile(r"`(\.venv/bin/[^`]+)`")
FAILURES: list[str] = []  # every failure of the run, listed at the end
# a row of a printed metric table: a name, then two decimal numbers (or n/a); not the
# timing line above the table ("simulated 4,020 cells ... in 0.3 s"), which varies by run
ROW = re.compile(r"^[a-z][a-z0-9_.]*\s+(-?\d+\.\d+|n/a)\s+(-?\d+\.\d+|n/a)\s")


def pages() -> list[Path]:
    """README.md, docs/index.md and the pages of its toctrees, in order."""
    index = ROOT / "docs" / "index.md"
    found = [ROOT / "README.md", index]
    for language, body in blocks(index.read_text()):
        if language == "toctree":
            found += [index.parent / f"{line.strip()}.md" for line in body.splitlines()
                      if line.strip() and not line.lstrip().startswith(":")]
    return found


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


def fail(message: str) -> None:
    print(f"  FAILED: {message.splitlines()[0]}", flush=True)
    FAILURES.append(message)


def run(command: str, env: dict[str, str], page: str) -> str:
    print(f"$ {command}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        fail(f"{page}: command failed ({done.returncode}): {command}\n{done.stderr}")
        return done.stdout
    print(f"  ok in {time.perf_counter() - started:.0f} s (the pages' stated times)")
    return done.stdout


def check_rows(expected: str, outputs: dict[str, str], page: str) -> None:
    rows = [row.rstrip() for row in expected.splitlines() if ROW.match(row)]
    for output in outputs.values():
        if set(rows) <= {line.rstrip() for line in output.splitlines()}:
            return
    fail(f"{page}: example output is not what its commands print now:\n" + "\n".join(rows)
             + "\n--- printed:\n" + "\n---\n".join(outputs.values()))


def check_page(path: Path, env: dict[str, str], scratch: Path) -> list[str]:
    """Run one page's commands and Python blocks; return its bash commands, run or skipped."""
    page, shown, python_blocks, outputs = str(path.relative_to(ROOT)), [], [], {}
    print(f"# {page}", flush=True)
    for language, body in blocks(path.read_text()):
        if language == "bash":
            outputs = {}  # the last bash block's outputs, by command
            for command in commands(body):
                shown.append(command)
                reason = next((why for key, why in SKIPPED.items() if key in command), None)
                if reason:
                    print(f"skipped ({reason}): {command}")
                    continue
                outputs[command] = run(command, env, page)
        elif language == "python":
            if body.lstrip().startswith("import numpy as np\n\n\ndef top_k_direction"):
                (scratch / "my_metrics.py").write_text(body + "\n")
            python_blocks.append(body)
        elif language == "text" and any(ROW.match(line) for line in body.splitlines()):
            check_rows(body, outputs, page)
    if python_blocks:
        print(f"$ the Python blocks of {page}, in order", flush=True)
        # from the repository root, as a user follows the page; my_metrics.py importable
        done = subprocess.run([sys.executable, "-"], input="\n\n".join(python_blocks),
                              cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            fail(f"{page}: Python blocks failed:\n{done.stderr}")
    return shown


def check_inline_commands(shown: list[str]) -> None:
    """Each command the README shows inline starts a command of a page's bash blocks."""
    inline = INLINE_COMMAND.findall((ROOT / "README.md").read_text())
    unchecked = [c for c in inline if not any(s == c or s.startswith(c + " ") for s in shown)]
    if unchecked:
        fail("README commands that no page's bash block runs (or skips with a reason):\n"
                 + "\n".join(unchecked))


def leftovers() -> list[str]:
    status = subprocess.run(["git", "status", "--porcelain", "--ignored",
                             "--untracked-files=all"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    return [line for line in status if line.startswith(("??", "!!"))
            and not line[3:].startswith(OUTPUTS + TOOLING) and "__pycache__/" not in line]


def main() -> None:
    before = set(leftovers())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    shown = []
    with tempfile.TemporaryDirectory() as scratch:
        env["PYTHONPATH"] = scratch  # where a user keeps my_metrics.py
        for path in pages():
            shown += check_page(path, env, Path(scratch))
    check_inline_commands(shown)
    new = sorted(set(leftovers()) - before)
    if new:
        fail("the pages' commands left files outside results/ and outputs/:\n" + "\n".join(new))
    if FAILURES:
        sys.exit(f"{len(FAILURES)} failure(s):\n\n" + "\n\n".join(FAILURES))
    print("every command of the README and the docs ran as written; example outputs match; "
          "nothing left behind")


if __name__ == "__main__":
    main()
