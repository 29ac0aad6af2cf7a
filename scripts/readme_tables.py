"""Rewrite the README's generated tables from their declarations.

Usage: ``python scripts/readme_tables.py`` (from anywhere). The parameter tables come from
`simulator.model.params` and `simulator.model.programs` (each knob's declaration), the
table of figures from `simulator.report.figures.FIGURES`, the training sweep's answer from
its committed figures/train/summary.md; tests/test_layout.py fails until the README
matches.
"""

from __future__ import annotations

from pathlib import Path

from simulator.model.params import markdown_table as parameter_table
from simulator.model.programs import markdown_table as program_table
from simulator.report.figures import markdown_table as figure_table

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


def main() -> None:
    text = README.read_text()
    for table in (parameter_table(), program_table(), figure_table()):
        text = replace_table(text, table)
    README.write_text(replace_answer(text))
    print(f"updated the parameter and figure tables and the training answer of {README}")


if __name__ == "__main__":
    main()
