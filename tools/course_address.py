"""The course's public address, kept in one place, and what every notebook derives from it.

    python tools/course_address.py                 # bring notebooks and README in line with it
    python tools/course_address.py --set OWNER/NAME   # move the course, then bring them in line

Each notebook gets an "Open in Colab" badge under its title, a first code cell that installs the
course only on Colab, and the kernelspec exactly as JupyterLab writes it (so opening a notebook does
not modify it). tests/test_course.py fails when running this would change anything.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPOSITORY = "lightfm-course/lightfm-course"
BRANCH = "main"

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
COLAB_MARK = "# Google Colab only:"
ANY_REPOSITORY = r"[\w.-]+/[\w.-]+"


def colab_badge(notebook: str, repository: str = REPOSITORY) -> str:
    url = f"https://colab.research.google.com/github/{repository}/blob/{BRANCH}/notebooks/{notebook}"
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def colab_cell(repository: str = REPOSITORY) -> str:
    return f'''{COLAB_MARK} fetch the course, install its pinned libraries, open its folder.
# Anywhere else (your machine, Binder, the tests) this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess
    COURSE = "/content/lightfm-course"
    url = "https://github.com/{repository}"
    subprocess.run(f"test -d {{COURSE}} || git clone --depth=1 {{url}} {{COURSE}}",
                   shell=True, check=True)
    sys.path.insert(0, f"{{COURSE}}/tools")
    import colab_setup  # noqa: F401  (installs with tools/install.sh, prints what to do next)'''


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def aligned_notebook(notebook: dict, name: str, repository: str = REPOSITORY) -> dict:
    """The notebook with its badge, Colab cell and kernelspec as this module says they should be."""
    cells = notebook["cells"]
    title = _source(cells[0])
    badge = colab_badge(name, repository)
    old_badge = re.compile(r"\[!\[Open in Colab\]\([^)]*\)\]\([^)]*\)")
    if old_badge.search(title):
        title = old_badge.sub(lambda _: badge, title)
    else:
        heading, _, rest = title.partition("\n")
        title = f"{heading}\n\n{badge}\n{rest}"
    cells[0]["source"] = _lines(title)
    colab = {"cell_type": "code", "execution_count": None, "id": "colab-setup", "metadata": {}, "outputs": [],
             "source": _lines(colab_cell(repository))}
    existing = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and _source(c).startswith(COLAB_MARK)]
    if existing:
        cells[existing[0]]["source"] = colab["source"]
    else:
        cells.insert(1, colab)
    notebook["metadata"]["kernelspec"] = dict(KERNELSPEC)
    return notebook


def _write_notebook(path: Path, notebook: dict) -> None:
    # nbformat's own layout (one-space indent, non-ASCII kept), as JupyterLab and nbconvert write it.
    path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def align_readme(text: str, repository: str = REPOSITORY) -> str:
    text = re.sub(rf"(mybinder\.org/v2/gh/){ANY_REPOSITORY}/", rf"\g<1>{repository}/", text)
    text = re.sub(rf"(colab\.research\.google\.com/github/){ANY_REPOSITORY}/", rf"\g<1>{repository}/", text)
    name = repository.split("/")[1]
    # `git clone URL && cd NAME`: the folder git creates is named after the repository.
    text = re.sub(rf"(git clone https://github\.com/){ANY_REPOSITORY}?(?:\.git)?( && cd )[\w.-]+",
                  rf"\g<1>{repository}.git\g<2>{name}", text)
    return re.sub(rf"(git clone https://github\.com/){ANY_REPOSITORY}?(?:\.git)?(?=[\s)`]|$)",
                  rf"\g<1>{repository}.git", text)


def stale_files(repository: str = REPOSITORY) -> list[Path]:
    """Files that running this module would change."""
    stale = []
    for path in NOTEBOOKS:
        current = json.loads(path.read_text())
        expected = aligned_notebook(json.loads(path.read_text()), path.name, repository)
        if expected != current:
            stale.append(path)
    readme = ROOT / "README.md"
    if align_readme(readme.read_text(), repository) != readme.read_text():
        stale.append(readme)
    return stale


def align(repository: str = REPOSITORY) -> list[Path]:
    changed = stale_files(repository)
    for path in changed:
        if path.suffix == ".ipynb":
            _write_notebook(path, aligned_notebook(json.loads(path.read_text()), path.name, repository))
        else:
            path.write_text(align_readme(path.read_text(), repository))
    return changed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", metavar="OWNER/NAME", help="the course's new GitHub repository")
    args = parser.parse_args(argv)
    repository = REPOSITORY
    if args.set:
        if not re.fullmatch(ANY_REPOSITORY, args.set):
            parser.error(f"--set expects OWNER/NAME as on GitHub, got {args.set!r}")
        repository = args.set
        this = Path(__file__)
        this.write_text(this.read_text().replace(f'REPOSITORY = "{REPOSITORY}"', f'REPOSITORY = "{repository}"', 1))
    for path in align(repository):
        print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
