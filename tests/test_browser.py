"""Opening the course in a real browser leaves every notebook unchanged on disk (issue 8, item 5).

The Makefile's `make lab` runs in a throwaway git copy of the working tree (with this test's venv),
so the real checkout is never written to. Debian's chromium, driven by Playwright, lands on
notebook 00, opens every notebook from the file browser (a kernel starts for each) and waits past
an autosave; then ``git status --porcelain notebooks/`` of the copy must be empty.

JupyterLab autosaves every 120 s by default; this server alone gets 5 s, through
``JUPYTERLAB_SETTINGS_DIR``. So that the clean check cannot pass because no autosave happened: a
probe notebook outside notebooks/ is edited in the browser and must reach the disk by autosave
alone (nothing presses save), and at the end no tab may still be marked unsaved.

Skipped where /usr/bin/chromium or playwright is missing (Playwright's own browser download is not
used), and under a Python other than the one the notebooks were run with: JupyterLab writes the
kernel's ``language_info.version`` into every notebook it opens. About 45 s.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AUTOSAVE_SECONDS = 5
NOTEBOOKS = sorted(path.name for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PROBE = "autosave_probe.ipynb"  # in the copy's root, outside notebooks/
PROBE_TEXT = "# typed by tests/test_browser.py"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
STORED_VERSIONS = {json.loads((ROOT / "notebooks" / name).read_text())["metadata"]
                   .get("language_info", {}).get("version") for name in NOTEBOOKS}
if platform.python_version() not in STORED_VERSIONS:
    pytest.skip(f"the notebooks store language_info.version {sorted(map(str, STORED_VERSIONS))}; "
                f"JupyterLab would write this kernel's {platform.python_version()} into them",
                allow_module_level=True)

from lab_server import TOKEN, get_json, make_lab  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

expect.set_options(timeout=60_000)


def _git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@invalid"]
    command = ["git", "-C", str(repo), *identity, *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _course_copy(tmp_path: Path) -> Path:
    """A git repository of the working tree (files git does not ignore) and the probe, committed.

    Files keep their modification times, as the Makefile may compare them with its stamp.
    """
    copy = tmp_path / "course"
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # skips files deleted in the working tree
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    probe = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "probe", "metadata": {},
                   "outputs": [], "source": []}],
        "metadata": {"kernelspec": KERNELSPEC}, "nbformat": 4, "nbformat_minor": 5,
    }
    (copy / PROBE).write_text(json.dumps(probe, indent=1) + "\n")
    _git(copy, "init", "--quiet")
    _git(copy, "add", ".")
    _git(copy, "commit", "--quiet", "-m", "copy of the course")
    return copy


def _settings_dir(tmp_path: Path) -> Path:
    """User settings for this server only: a short autosave, no news or update checks."""
    settings = tmp_path / "user-settings"
    overrides = {
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {
            "autosave": True, "autosaveInterval": AUTOSAVE_SECONDS},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false", "checkForUpdates": False},
    }
    for name, values in overrides.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    return settings


@pytest.fixture
def lab(tmp_path):
    """`make lab` in the course copy, on this test's venv; yields (base URL, copy)."""
    copy = _course_copy(tmp_path)
    # The venv running this test (.venv, .venv-3.13, ...). make must find it up to date: it must
    # never reinstall into it from the copy (that would point its editable install at the copy).
    venv = f"VENV={sys.prefix}"
    if subprocess.run(["make", "-q", "env", venv], cwd=copy, capture_output=True).returncode:
        pytest.fail(f"make finds {sys.prefix} out of date; run `make env` in {ROOT} first")
    env = {
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),  # the notebook-trust database of saves
        "JUPYTERLAB_SETTINGS_DIR": str(_settings_dir(tmp_path)),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),  # restores no one else's tabs
    }
    with make_lab(copy, tmp_path, env) as base:
        yield base, copy


def _wait_for_idle_kernels(base: str, paths: list[str], timeout: float = 60) -> None:
    """The server has a session with an idle kernel for every path."""
    deadline = time.monotonic() + timeout
    while True:
        sessions = get_json(f"{base}/api/sessions")
        states = {s["path"]: s["kernel"]["execution_state"] for s in sessions if s.get("kernel")}
        if all(states.get(path) == "idle" for path in paths):
            return
        assert time.monotonic() < deadline, f"kernels not all idle after {timeout} s: {states}"
        time.sleep(0.5)


def test_opening_every_notebook_leaves_the_repository_clean(lab):
    base, copy = lab
    assert len(NOTEBOOKS) >= 9, NOTEBOOKS
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/?token={TOKEN}")
            current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
            panel = page.locator(".jp-NotebookPanel:visible")
            listing = page.locator("#filebrowser .jp-DirListing-content")

            def shows(name: str, path: Path) -> None:
                """The current tab is `name`, its title cell shows, and its kernel is idle."""
                expect(current).to_have_text(name)
                title = json.loads(path.read_text())["cells"][0]["source"]
                if title:
                    expect(panel.locator("h1").first).to_contain_text(title[0].lstrip("# ").strip())
                expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
                    "data-status", "idle")

            # 1. make lab lands on notebook 00.
            page.wait_for_url("**/lab/tree/notebooks/00_start_here.ipynb")
            assert NOTEBOOKS[0] == "00_start_here.ipynb"
            shows(NOTEBOOKS[0], copy / "notebooks" / NOTEBOOKS[0])

            # 2. Open every other notebook from the file browser, as a learner does.
            expect(page.locator("#filebrowser .jp-BreadCrumbs")).to_contain_text("notebooks")
            for name in NOTEBOOKS[1:]:
                listing.get_by_text(name, exact=True).dblclick()
                shows(name, copy / "notebooks" / name)
            _wait_for_idle_kernels(base, [f"notebooks/{name}" for name in NOTEBOOKS])

            # 3. The probe: edited in the browser, only autosave can write the edit to disk.
            page.locator("#filebrowser .jp-BreadCrumbs-home").click()
            listing.get_by_text(PROBE, exact=True).dblclick()
            shows(PROBE, copy / PROBE)
            panel.locator(".jp-Cell .cm-content").first.click()
            page.keyboard.type(PROBE_TEXT)
            edited = time.monotonic()
            while PROBE_TEXT not in (copy / PROBE).read_text():
                assert time.monotonic() - edited < 12 * AUTOSAVE_SECONDS, (
                    f"autosave did not write the probe within {12 * AUTOSAVE_SECONDS} s: "
                    f"the {AUTOSAVE_SECONDS} s autosave setting did not take effect")
                time.sleep(0.5)
            # Every notebook was open, its kernel idle, before the edit, and each runs its own
            # autosave timer at the same interval: three more intervals give each its turn.
            time.sleep(3 * AUTOSAVE_SECONDS)

            # 4. Nothing JupyterLab did on opening reached a tracked notebook.
            status = _git(copy, "status", "--porcelain", "notebooks/")
            diff = _git(copy, "diff", "--unified=1", "notebooks/")[:3000]
            assert status == "", f"opening notebooks in JupyterLab modified them:\n{status}\n{diff}"
            dirty = page.locator("#jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty")
            unsaved = dirty.all_inner_texts()
            assert unsaved == [], f"tabs still unsaved, so autosave has not run on them: {unsaved}"
        finally:
            browser.close()
