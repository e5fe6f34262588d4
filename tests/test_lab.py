"""`make lab` serves JupyterLab with every course notebook reachable through the contents API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "course-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def lab_server(tmp_path):
    port = _free_port()
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={TOKEN} --ServerApp.port_retries=0"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = (tmp_path / "lab.log").open("w")
    process = subprocess.Popen(
        # The environment running the tests (make test VENV=.venv-3.13 serves from that one).
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}", f"VENV={sys.prefix}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get_json(f"{base}/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"make lab did not serve JupyterLab:\n{(tmp_path / 'lab.log').read_text()}")
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_make_lab_lists_every_notebook(lab_server):
    listing = _get_json(f"{lab_server}/api/contents/notebooks")
    served = {entry["name"] for entry in listing["content"] if entry["type"] == "notebook"}
    on_disk = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk and served == on_disk


def test_make_lab_opens_the_index_notebook(lab_server):
    request = urllib.request.Request(f"{lab_server}/", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.geturl().endswith("/lab/tree/notebooks/00_start_here.ipynb")
    index = _get_json(f"{lab_server}/api/contents/notebooks/00_start_here.ipynb")
    assert index["type"] == "notebook"
    assert index["content"]["cells"][0]["source"].startswith("# 00")
