"""Rewrite the README's generated tables from their declarations and results.

Usage: ``python scripts/readme_tables.py`` (from anywhere). The parameter table comes from
`simulator.model.params` (each knob's declaration), the table of figures from
`simulator.report.figures.FIGURES`; tests/test_layout.py fails until the README matches.
The table of cell-eval's metrics comes from the README's ``sweep=vcc`` run in
``results/vcc`` (`simulator.report.vcc`), when it is there; its summary.md holds the
same table.
"""

from __future__ import annotations

from pathlib import Path

from simulator.model.params import markdown_table as parameter_table
from simulator.report.figures import markdown_table as figure_table
from simulator.report.tables import load_tables
from simulator.report.vcc import hard_trials, markdown, vcc_comparison

README = Path(__file__).resolve().parents[1] / "README.md"


def replace_table(text: str, table: str) -> str:
    """`text` with the markdown table whose header is `table`'s first line replaced."""
    header = table.splitlines()[0]
    start = text.index(header)
    end = text.find("\n\n", start)
    return text[:start] + table + (text[end:] if end >= 0 else "\n")


def vcc_table() -> str | None:
    """The cell-eval table of the ``sweep=vcc`` results, or None when they are absent."""
    results = README.parent / "results" / "vcc" / "results.parquet"
    if not results.is_file():
        return None
    tables = load_tables(results)
    return markdown(vcc_comparison(tables), hard_trials(tables))


def main() -> None:
    text = README.read_text()
    tables = [parameter_table(), figure_table()]
    vcc = vcc_table()
    if vcc is not None:
        tables.append(vcc.split("\n\n")[0])
    for table in tables:
        text = replace_table(text, table)
    README.write_text(text)
    print(f"updated the parameter and figure tables of {README}"
          + ("" if vcc else " (results/vcc absent: the cell-eval table is left as it is)"))


if __name__ == "__main__":
    main()
