"""Rewrite the README's generated tables from their declarations and results.

Usage: ``python scripts/readme_tables.py`` (from anywhere). The parameter tables come from
`simulator.model.params` and `simulator.model.programs` (each knob's declaration), the
table of figures from `simulator.report.figures.FIGURES`, the training sweep's answer from
its committed figures/train/summary.md; tests/test_layout.py fails until the README
matches. The table of cell-eval's metrics comes from the README's ``sweep=vcc`` run in
``results/vcc`` (`simulator.report.vcc`), when it is there; its summary.md, committed as
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
README = ROOT / "README.md"
TRAINING_SUMMARY = ROOT / "figures" / "train" / "summary.md"
ANSWER_START, ANSWER_END = "<!-- training answer: start -->", "<!-- training answer: end -->"


def training_answer(summary: Path = TRAINING_SUMMARY) -> str:
    """The "The answer" section of the committed training sweep's summary.md (its tables
    and one sentence per model), as the README shows it."""
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


def main() -> None:
    text = README.read_text()
    tables = [parameter_table(), program_table(), figure_table()]
    vcc = vcc_table()
    if vcc is not None:
        tables.append(vcc.split("\n\n")[0])
    for table in tables:
        text = replace_table(text, table)
    README.write_text(replace_answer(text))
    print(f"updated the parameter and figure tables and the training answer of {README}"
          + ("" if vcc else " (results/vcc absent: the cell-eval table is left as it is)"))


if __name__ == "__main__":
    main()
