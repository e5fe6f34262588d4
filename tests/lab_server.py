"""`make lab` started on a free loopback port for a test, and stopped after it (tests/test_lab.py,
tests/test_browser.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

TOKEN = "course-test-token"


def get_json(url: str) -> list | dict:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def make_lab(course: Path, tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve ``course`` with its own `make lab`, in the venv running the tests; yield the base URL."""
    port = _free_port()
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={TOKEN} "
            "--ServerApp.port_retries=0")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), **(env or {})}
    log_path = tmp_path / "lab.log"
    log = log_path.open("w")
    # VENV: the environment running the tests (make test VENV=.venv-3.13 serves from that one).
    process = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"VENV={sys.prefix}", f"LAB_ARGS={args}"],
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(f"{base}/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"make lab did not serve JupyterLab:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
