"""Rewrite the generated tables of the documentation pages from their declarations and results.

Usage: ``python scripts/readme_tables.py`` (from anywhere). Into docs/model.md the
parameter table (each knob's declaration in `simulator.model.params`); into docs/training.md
the program effect model's table (`simulator.model.programs`) and the training sweep's
answer from its committed figures/train/summary.md; into docs/sweeps.md the table of
figures (`simulator.report.figures.FIGURES`); tests/unit/test_layout.py fails until the pages
match. Into docs/vcc.md the table of cell-eval's metrics, from the page's ``sweep=vcc`` run
in ``results/vcc`` (`simulator.report.vcc`), when it is there; its summary.md, committed as
figures/vcc/summary.md, holds the same table. Into docs/vcc.md too the VCC-2026 section
(tables and answers) of the committed figures/vcc2026/summary.md, the ``sweep=vcc2026`` run's.
"""

from __future__ import annotations

from pathlib import Path

from simulator.model.params import markdown_table as parameter_table
from simulator.model.programs import markdown_table as program_table
from simulator.report.figures import markdown_table as figure_table
from simulator.report.tables import load_tables
from simulator.report.vcc import hard_trials, markdown, vcc_comparison

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TRAINING_SUMMARY = ROOT / "figures" / "train" / "summary.md"
VCC2026_SUMMARY = ROOT / "figures" / "vcc2026" / "summary.md"


def section(summary: Path, title: str) -> str:
    """The body of the ``## title`` section of a committed summary.md."""
    text = summary.read_text()
    start = text.index(f"## {title}") + len(f"## {title}")
    end = text.find("\n## ", start)
    return text[start:end if end >= 0 else None].strip()


def training_answer(summary: Path = TRAINING_SUMMARY) -> str:
    """The "The answer" section of the committed training sweep's summary.md (its tables
    and one sentence per model), as docs/training.md shows it."""
    return section(summary, "The answer")


def vcc2026_answer(summary: Path = VCC2026_SUMMARY) -> str:
    """The committed ``sweep=vcc2026`` run's tables and answers, as docs/vcc.md shows them:
    its summary.md section after the introduction (`simulator.report.summary`)."""
    from simulator.report.summary import VCC2026_SECTION
    from simulator.report.vcc2026 import HEADER

    body = section(summary, VCC2026_SECTION.removeprefix("## "))
    return body[body.index(HEADER):]


def replace_answer(text: str, name: str, answer: str) -> str:
    """`text` with what stands between its ``<!-- name answer: start/end -->`` replaced."""
    start_mark, end_mark = f"<!-- {name} answer: start -->", f"<!-- {name} answer: end -->"
    start, end = text.index(start_mark) + len(start_mark), text.index(end_mark)
    return text[:start] + "\n" + answer + "\n" + text[end:]


def replace_table(text: str, table: str) -> str:
    """`text` with the markdown table whose header is `table`'s first line replaced."""
    header = table.splitlines()[0]
    start = text.index(header)
    end = text.find("\n\n", start)
    return text[:start] + table + (text[end:] if end >= 0 else "\n")


def vcc_table() -> str | None:
    """The cell-eval table of the ``sweep=vcc`` results, or None when they are absent."""
    results = ROOT / "results" / "vcc" / "results.parquet"
    if not results.is_file():
        return None
    tables = load_tables(results)
    return markdown(vcc_comparison(tables), hard_trials(tables))


def rewrite(page: str, tables: list[str], answers: dict[str, str] | None = None) -> None:
    """Replace `tables` and the marked `answers` in docs/`page` by their current text."""
    path = DOCS / page
    text = path.read_text()
    for table in tables:
        text = replace_table(text, table)
    for name, answer in (answers or {}).items():
        text = replace_answer(text, name, answer)
    path.write_text(text)


def main() -> None:
    rewrite("model.md", [parameter_table()])
    rewrite("training.md", [program_table()], {"training": training_answer()})
    rewrite("sweeps.md", [figure_table()])
    vcc = vcc_table()
    rewrite("vcc.md", [] if vcc is None else [vcc.split("\n\n")[0]],
            {"vcc2026": vcc2026_answer()})
    print(f"updated the parameter, program and figure tables and the training and VCC-2026 "
          f"answers in {DOCS}"
          + ("" if vcc else " (results/vcc absent: the cell-eval table is left as it is)"))


if __name__ == "__main__":
    main()
