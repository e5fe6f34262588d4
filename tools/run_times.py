"""Restart-and-run-all notebooks in place (as `make run` does), timing each, and write the time
where readers see it: the notebook's header ("**Run time** about N s") and the README's notebook
table. tests/test_course.py checks the two agree.

    .venv/bin/python tools/run_times.py            # every notebook
    .venv/bin/python tools/run_times.py 03 04      # some

The figure is the wall time of `jupyter nbconvert --execute` (kernel start included), rounded to
the nearest 5 s above 10 s. Run it on a quiet machine: other work on the cores inflates it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_TIME = re.compile(r"(\*\*Run time\*\*\s+about )(\d+)( s)")


def run_in_place(path: Path) -> float:
    """Execute the notebook and store its outputs (the Makefile's `run` flags); return seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--inplace", "--ExecutePreprocessor.timeout=900",
                    "--ExecutePreprocessor.record_timing=False", str(path)],
                   check=True, capture_output=True)
    return time.perf_counter() - started


def rounded(seconds: float) -> int:
    return max(1, round(seconds)) if seconds < 10 else 5 * round(seconds / 5)


def write(path: Path, seconds: int) -> None:
    notebook = json.loads(path.read_text())
    title = "".join(notebook["cells"][0]["source"])
    if not RUN_TIME.search(title):
        raise SystemExit(f"{path.name}: the title cell has no '**Run time** about N s' to update")
    title = RUN_TIME.sub(lambda m: f"{m.group(1)}{seconds}{m.group(3)}", title, count=1)
    notebook["cells"][0]["source"] = title.splitlines(keepends=True)
    path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    readme = ROOT / "README.md"
    row = re.compile(rf"^(\| {path.name[:2]} \|.*\| about )\d+( s \|)$", re.M)
    text, count = row.subn(lambda m: f"{m.group(1)}{seconds}{m.group(2)}", readme.read_text())
    if count != 1:
        raise SystemExit(f"README.md: no single notebook-table row for {path.name}")
    readme.write_text(text)


def main(numbers: list[str]) -> None:
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    unknown = set(numbers) - {p.name[:2] for p in paths}
    if unknown:
        raise SystemExit(f"no notebook numbered {sorted(unknown)}; expected two digits such as 03")
    for path in paths:
        if numbers and path.name[:2] not in numbers:
            continue
        seconds = run_in_place(path)
        write(path, rounded(seconds))
        print(f"{path.name}: {seconds:.1f} s -> about {rounded(seconds)} s")


if __name__ == "__main__":
    main(sys.argv[1:])
