"""Rewrite the README's generated tables from their declarations.

Usage: ``python scripts/readme_tables.py`` (from anywhere). The parameter table comes from
`simulator.model.params` (each knob's declaration), the table of figures from
`simulator.report.figures.FIGURES`; tests/test_layout.py fails until the README matches.
"""

from __future__ import annotations

from pathlib import Path

from simulator.model.params import markdown_table as parameter_table
from simulator.report.figures import markdown_table as figure_table

README = Path(__file__).resolve().parents[1] / "README.md"


def replace_table(text: str, table: str) -> str:
    """`text` with the markdown table whose header is `table`'s first line replaced."""
    header = table.splitlines()[0]
    start = text.index(header)
    end = text.find("\n\n", start)
    return text[:start] + table + (text[end:] if end >= 0 else "\n")


def main() -> None:
    text = README.read_text()
    for table in (parameter_table(), figure_table()):
        text = replace_table(text, table)
    README.write_text(text)
    print(f"updated the parameter and figure tables of {README}")


if __name__ == "__main__":
    main()
