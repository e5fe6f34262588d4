"""`make bench`'s script still runs end to end and writes its report (smoke test at tiny scales)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_run_all_quick_writes_every_section(tmp_path):
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--cache", str(tmp_path / "cache"),
         "--out", str(out)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    report = (out / "RESULTS.md").read_text()
    for section in ("Interaction build", "All-user top-10", "Evaluation", "Approximate nearest neighbours",
                    "Quality bar", "Machine and versions"):
        assert section in report, section
    assert (out / "time_vs_size.png").stat().st_size > 0
