"""Every notebook keeps the course format and is stored the way readers see it on GitHub.

nbval re-executes the notebooks; these checks cover what it does not: structure, links,
stored outputs and the README's notebook map.
"""

from __future__ import annotations

import json
import re
import sys
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


# --- pointers, run times, launch cells ---------------------------------------------------------

NOTEBOOK_BY_NUMBER = {p.name[:2]: p for p in NOTEBOOKS}
SECTION_REF = re.compile(
    r"(?:\b(?P<owner>\d\d)(?:'s)?\s+)?\b(?:[Ss]ections?|§)\s*(?P<numbers>\d+(?:\s*(?:,|and|or|to|–|-)\s*\d+)*)"
    r"(?:\s+(?:of|in)\s+(?:notebook\s+)?(?P<after>\d\d)\b)?"
)
NOTEBOOK_REF = re.compile(r"\b[Nn]otebooks?\s+(\d\d)\b")
RUN_TIME = re.compile(r"\*\*Run time\*\*\s+about (\d+) s")


def _markdown(path: Path) -> list[str]:
    return [_text(c) for c in _load(path)["cells"] if c["cell_type"] == "markdown"]


def _section_numbers(path: Path) -> set[int]:
    numbers = set()
    for text in _markdown(path):
        numbers |= {int(n) for n in re.findall(r"^##\s+(\d+)\s*[.·]", text, re.M)}
    return numbers


def _prose(text: str) -> str:
    """Markdown without code, where numbers are not pointers."""
    return re.sub(r"```.*?```|`[^`]*`", " ", text, flags=re.S)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_section_and_notebook_pointer_names_a_heading_that_exists(path):
    wrong = []
    for text in map(_prose, _markdown(path)):
        for number in NOTEBOOK_REF.findall(text):
            if number not in NOTEBOOK_BY_NUMBER:
                wrong.append(f"notebook {number} does not exist")
        for match in SECTION_REF.finditer(text):
            # "notebook 04's section 5", "(03, section 7)", "04 §5", "section 5 of notebook 04",
            # else this notebook's own.
            before = text[max(0, match.start() - 14) : match.start()]
            owner = match.group("after") or match.group("owner") or (
                re.search(r"(?:[Nn]otebook\s+|\()(\d\d)(?:'s|,)?\s*$", before) or [None, None])[1]
            target = NOTEBOOK_BY_NUMBER.get(owner, path) if owner else path
            for number in map(int, re.findall(r"\d+", match.group("numbers"))):
                if number not in _section_numbers(target):
                    wrong.append(f"{match.group(0)!r} -> no section {number} in {target.name}")
    assert not wrong, f"{path.name}: " + "; ".join(wrong)


def test_header_run_time_and_readme_table_are_the_same_measurement():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        header = RUN_TIME.search(_text(_load(path)["cells"][0]))
        assert header, f"{path.name}: the title cell states no '**Run time** about N s'"
        row = re.search(rf"^\| {path.name[:2]} \|.*\| about (\d+) s \|$", readme, re.M)
        assert row, f"README's notebook table has no run time for {path.name}"
        assert row.group(1) == header.group(1), (
            f"{path.name}: header says about {header.group(1)} s, README about {row.group(1)} s "
            "(tools/run_times.py measures both)")


def test_colab_cells_badges_and_kernelspecs_follow_the_course_address():
    """Every notebook has the Colab badge and first cell for the one address in tools/, and the
    kernelspec exactly as JupyterLab writes it; `python tools/course_address.py` fixes drift."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import course_address
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert course_address.stale_files() == [], "run: python tools/course_address.py"
    for path in NOTEBOOKS:
        notebook = _load(path)
        first_code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        assert _text(first_code) == course_address.colab_cell(), f"{path.name}: first code cell"
        assert first_code["outputs"] == [], f"{path.name}: the Colab cell printed something here"
        assert notebook["metadata"]["kernelspec"]["display_name"] == "Python 3 (ipykernel)"


def test_moving_the_course_rewrites_every_address_it_derives():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import course_address
    finally:
        sys.path.remove(str(ROOT / "tools"))
    old = course_address.REPOSITORY
    readme = course_address.align_readme((ROOT / "README.md").read_text(), "someone/fork")
    assert old not in readme and "git clone https://github.com/someone/fork.git && cd fork" in readme
    assert "mybinder.org/v2/gh/someone/fork/" in readme and "github/someone/fork/blob/" in readme
    notebook = course_address.aligned_notebook(_load(NOTEBOOKS[0]), NOTEBOOKS[0].name, "someone/fork")
    moved = json.dumps(notebook)
    assert old not in moved and moved.count("someone/fork") == 2  # the badge and the Colab cell
