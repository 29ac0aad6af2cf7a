"""Rewrite the generated tables of the documentation pages from their declarations and results.

Usage: ``python scripts/readme_tables.py`` (from anywhere). Into docs/model.md the
parameter table (each knob's declaration in `simulator.model.params`); into docs/training.md
the program effect model's table (`simulator.model.programs`) and the training sweep's
answer from its committed figures/train/summary.md; into docs/sweeps.md the table of
figures (`simulator.report.figures.FIGURES`); tests/unit/test_layout.py fails until the pages
match. Into docs/vcc.md the table of cell-eval's metrics, from the page's ``sweep=vcc`` run
in ``results/vcc`` (`simulator.report.vcc`), when it is there; its summary.md, committed as
figures/vcc/summary.md, holds the same table.
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
ANSWER_START, ANSWER_END = "<!-- training answer: start -->", "<!-- training answer: end -->"


def training_answer(summary: Path = TRAINING_SUMMARY) -> str:
    """The "The answer" section of the committed training sweep's summary.md (its tables
    and one sentence per model), as docs/training.md shows it."""
    text = summary.read_text()
    start = text.index("## The answer") + len("## The answer")
    end = text.index("\n## ", start)
    return text[start:end].strip()


def replace_answer(text: str) -> str:
    start, end = text.index(ANSWER_START) + len(ANSWER_START), text.index(ANSWER_END)
    return text[:start] + "\n" + training_answer() + "\n" + text[end:]


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


def rewrite(page: str, tables: list[str], answer: bool = False) -> None:
    """Replace `tables` (and the training answer) in docs/`page` by their current text."""
    path = DOCS / page
    text = path.read_text()
    for table in tables:
        text = replace_table(text, table)
    path.write_text(replace_answer(text) if answer else text)


def main() -> None:
    rewrite("model.md", [parameter_table()])
    rewrite("training.md", [program_table()], answer=True)
    rewrite("sweeps.md", [figure_table()])
    vcc = vcc_table()
    if vcc is not None:
        rewrite("vcc.md", [vcc.split("\n\n")[0]])
    print(f"updated the parameter, program and figure tables and the training answer in {DOCS}"
          + ("" if vcc else " (results/vcc absent: the cell-eval table is left as it is)"))


if __name__ == "__main__":
    main()
