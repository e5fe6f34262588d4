"""`make lab` serves JupyterLab with every course notebook reachable through the contents API."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from lab_server import TOKEN, get_json, make_lab

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def lab_server(tmp_path):
    with make_lab(ROOT, tmp_path) as base:
        yield base


def test_make_lab_lists_every_notebook(lab_server):
    listing = get_json(f"{lab_server}/api/contents/notebooks")
    served = {entry["name"] for entry in listing["content"] if entry["type"] == "notebook"}
    on_disk = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk and served == on_disk


def test_make_lab_opens_the_index_notebook(lab_server):
    request = urllib.request.Request(f"{lab_server}/", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.geturl().endswith("/lab/tree/notebooks/00_start_here.ipynb")
    index = get_json(f"{lab_server}/api/contents/notebooks/00_start_here.ipynb")
    assert index["type"] == "notebook"
    assert index["content"]["cells"][0]["source"].startswith("# 00")
