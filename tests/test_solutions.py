"""Every exercise solution runs, in the order a learner does the exercises, after its notebook.

A solution is the ```python code inside a notebook's `<details>` blocks. The notebook's own code
cells run first in a fresh kernel (a learner reads the lesson, then does the exercises), then each
solution's code, top to bottom, in the same kernel. A solution that raises, or whose `assert` on a
number its text quotes no longer holds, fails here with the cell and the traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DETAILS = re.compile(r"<details>.*?</details>", re.S)
PYTHON_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


def solution_blocks(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(markdown cell index, code) of every ```python block inside a `<details>`, in reading order."""
    blocks = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for details in DETAILS.findall(cell.source):
            blocks.extend((index, code) for code in PYTHON_FENCE.findall(details))
    return blocks


def test_solution_blocks_are_found_in_reading_order():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**1 ·** Try.\n\n```python\nnot_a_solution()\n```"),
        nbformat.v4.new_markdown_cell(
            "<details><summary>Solution</summary>\n\n```python\nfirst = 1\n```\n\nthen\n\n"
            "```python\nsecond = first + 1\n```\n\n```bash\nmake test\n```\n</details>"),
        nbformat.v4.new_markdown_cell("<details><summary>Solution</summary>\n\n```python\nthird = 3\n```\n</details>"),
    ])
    assert solution_blocks(notebook) == [(1, "first = 1\n"), (1, "second = first + 1\n"), (2, "third = 3\n")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_solution_runs_after_its_notebook(path):
    notebook = nbformat.read(path, as_version=4)
    blocks = solution_blocks(notebook)
    assert blocks, f"{path.name}: no exercise has a ```python solution inside <details>"
    lesson = [nbformat.v4.new_code_cell(c.source) for c in notebook.cells if c.cell_type == "code"]
    solutions = [nbformat.v4.new_code_cell(code, metadata={"solution_in_markdown_cell": index})
                 for index, code in blocks]
    run = nbformat.v4.new_notebook(cells=lesson + solutions, metadata=notebook.metadata)
    # The same interpreter as the tests (nbval's --nbval-current-env), whatever kernels are installed.
    kernel = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(run, km=kernel, timeout=900, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        failed = next((c for c in run.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        where = (f"the solution in markdown cell {failed.metadata['solution_in_markdown_cell']}"
                 if failed is not None and "solution_in_markdown_cell" in failed.metadata else "a lesson cell")
        pytest.fail(f"{path.name}: {where} failed:\n{error}", pytrace=False)
