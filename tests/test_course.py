"""Every notebook keeps the course format and is stored the way readers see it on GitHub.

nbval re-executes the notebooks; these checks cover what it does not: structure, links,
stored outputs and the README's notebook map.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
MACHINE_PATH = re.compile(r"/(root|work|tmp|home|Users)/[\w.-]+")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _text(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:3] == [
        "00_start_here.ipynb", "01_factorization_machines.ipynb", "02_pure_matrix_factorization.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_name_and_title_follow_the_numbering(path):
    number = re.fullmatch(r"(\d\d)_[a-z0-9_]+\.ipynb", path.name)
    assert number, f"{path.name}: expected NN_short_name.ipynb"
    first = _load(path)["cells"][0]
    assert first["cell_type"] == "markdown" and _text(first).startswith(f"# {number.group(1)} · ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_goals_needs_runtime_and_ends_with_summary_and_exercises(path):
    markdown = "\n".join(_text(c) for c in _load(path)["cells"] if c["cell_type"] == "markdown")
    for heading in ("You will learn", "You need", "Run time", "Summary", "Exercises", "<details>"):
        assert heading in markdown, f"{path.name} lacks {heading!r}"
    assert "index" in _text(_load(path)["cells"][0]).lower(), f"{path.name}: no navigation line in the title cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_relative_links_resolve(path):
    for cell in _load(path)["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for target in LINK.findall(_text(cell)):
            parsed = urlparse(target)
            if parsed.scheme or target.startswith("#"):
                continue
            assert (path.parent / unquote(parsed.path)).exists(), f"{path.name} links to missing {target}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_with_outputs_in_order_without_errors_or_warnings(path):
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: restart and run all before saving"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"], f"{path.name} has an error output"
    assert not [o for o in outputs if o.get("name") == "stderr"], f"{path.name} shows stderr (a warning?)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_machine_paths_or_object_addresses(path):
    text = path.read_text()
    assert not MACHINE_PATH.search(text), f"{path.name} shows a machine path: {MACHINE_PATH.search(text).group()}"
    assert not re.search(r"at 0x[0-9a-f]{6,}", text), f"{path.name} shows a memory address"


def test_readme_maps_every_notebook_and_binder_opens_the_index():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README does not link {path.name}"
    binder = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", readme)
    assert binder, "README has no Binder badge"
    assert "urlpath=lab/tree/notebooks/00_start_here.ipynb" in unquote(binder.group())
