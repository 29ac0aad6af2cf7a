"""The README and the documentation site: what they must hold, and that every public name
has an API page with a docstring stating what it returns (shapes and units)."""

from __future__ import annotations

import importlib
import inspect
import re
import runpy
import sys
from pathlib import Path

from numpydoc.docscrape import ClassDoc, FunctionDoc

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
INSTALL = 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && '
SETUP = (f"```bash\n{INSTALL}.venv/bin/python -m experiments.sweep\n"
         f"{INSTALL}.venv/bin/ruff check . && .venv/bin/pytest\n```")  # unchanged since 0.1


def checker():
    sys.path.insert(0, str(ROOT / "scripts"))
    import check_readme

    return check_readme


def test_the_readme_fits_on_a_screen_and_opens_with_the_two_set_up_commands():
    assert len(README.splitlines()) <= 200
    title, rest = README.split("\n", 1)
    assert title.startswith("# collapse-sim") and rest.lstrip().startswith(SETUP)


def test_the_readme_lists_every_app_with_its_command():
    apps = sorted(path.stem for path in (ROOT / "experiments").glob("*.py")
                  if "@hydra.main" in path.read_text())
    assert len(apps) >= 8
    rows = [line for line in README.splitlines() if line.startswith("| `experiments.")]
    listed = {re.match(r"\| `experiments\.(\w+)`", row).group(1): row for row in rows}
    assert set(apps) <= set(listed)
    for app in apps:
        assert f"`.venv/bin/python -m experiments.{app}" in listed[app], listed[app]


def test_the_check_walks_every_page_of_the_site_in_its_toctree_order():
    pages = checker().pages()
    assert pages[:2] == [ROOT / "README.md", DOCS / "index.md"]
    assert sorted(pages[1:]) == sorted(DOCS.glob("*.md"))  # every page is in a toctree
    assert len(set(pages)) == len(pages)


def test_the_check_reads_bash_blocks_beside_myst_directives():
    check = checker()
    text = ("```{toctree}\n:maxdepth: 1\n\nmodel\n```\n\n```{include} ../CHANGELOG.md\n```\n\n"
            "- a list item:\n\n  ```bash\n  .venv/bin/python -m experiments.run \\\n"
            "    seed=1\n  ```\n\n```\nmse   0.1   0.2  rest\n```\n")
    found = check.blocks(text)
    assert [language for language, _ in found] == ["toctree", "include", "bash", "text"]
    assert check.commands(found[2][1]) == [".venv/bin/python -m experiments.run    seed=1"]


def test_a_command_the_readme_shows_inline_must_start_a_checked_command(monkeypatch):
    check = checker()
    monkeypatch.setattr(check, "FAILURES", [])
    inline = check.INLINE_COMMAND.findall(README)
    assert ".venv/bin/python -m experiments.run" in inline
    check.check_inline_commands([f"{command} seed=1" for command in inline])
    assert check.FAILURES == []
    check.check_inline_commands([f"{command}x" for command in inline])  # e.g. "runx": no
    assert len(check.FAILURES) == 1 and all(command in check.FAILURES[0] for command in inline)


def api_context() -> dict[str, list[str]]:
    """The names docs/conf.py gives each API page, by package."""
    return runpy.run_path(str(DOCS / "conf.py"))["autosummary_context"]["public"]


def test_the_api_reference_has_a_page_for_every_name_of_every_subpackage():
    subpackages = sorted(f"simulator.{path.parent.name}"
                         for path in (ROOT / "simulator").glob("*/__init__.py"))
    public = api_context()
    assert sorted(public) == ["simulator", *subpackages]
    for package, names in public.items():
        exported = importlib.import_module(package).__all__
        assert [name.rsplit(".", 1)[-1] for name in names] == list(exported), package
    api = (DOCS / "api.md").read_text()
    assert all(f"   {package}\n" in api for package in public)


def undocumented(names: list[str], module) -> list[str]:
    """The names whose docstring lacks what numpydoc states shapes and units in: a Returns
    section for a function, Parameters or Attributes for a class."""
    missing = []
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            doc = ClassDoc(obj)
            ok = bool(doc["Parameters"] or doc["Attributes"]) or issubclass(obj, Exception)
        else:
            ok = bool(FunctionDoc(obj)["Returns"])
        if not (inspect.getdoc(obj) and ok):
            missing.append(name)
    return missing


def test_every_public_name_of_simulator_states_what_it_holds_or_returns():
    import simulator

    assert undocumented(simulator.__all__, simulator) == []


def unclosed_fences(text: str) -> list[int]:
    """The line of a code fence left open at the end of a page (the rest renders as code)."""
    fence = re.compile(r"^( *)```")
    opened = None
    for number, line in enumerate(text.splitlines(), 1):
        match = fence.match(line)
        if match and opened is None:
            opened = (number, len(match.group(1)))
        elif match and len(match.group(1)) == opened[1]:
            opened = None
    return [] if opened is None else [opened[0]]


def test_every_code_fence_of_the_pages_is_closed():
    assert unclosed_fences("text\n```bash\nls\n```\n```\nopen\n") == [5]
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert {page.name: unclosed_fences(page.read_text()) for page in pages
            if unclosed_fences(page.read_text())} == {}
