"""The two environment files and the Makefile agree on what the course needs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The pip name differs from conda-forge's for one library; every other name must match.
PIP_TO_CONDA = {"rectools-lightfm": "lightfm"}
# Tools of the environment itself, not libraries the course uses.
CONDA_ONLY_TOOLS = {"python", "pip"}


def _name(spec: str) -> str:
    return re.split(r"[<>=~!;\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pip_libraries() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    specs = [line.split("#", 1)[0].strip() for line in lines]
    return {PIP_TO_CONDA.get(_name(s), _name(s)) for s in specs if s and not s.startswith("-")}


def conda_libraries() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = {_name(dep) for dep in env["dependencies"] if isinstance(dep, str)}
    return names - CONDA_ONLY_TOOLS


def test_requirements_and_environment_name_the_same_libraries():
    pip_only = pip_libraries() - conda_libraries()
    conda_only = conda_libraries() - pip_libraries()
    assert not pip_only and not conda_only, (
        f"requirements.txt only: {sorted(pip_only)}; environment.yml only: {sorted(conda_only)}"
    )


def test_core_libraries_are_present():
    assert {"lightfm", "pandas", "numpy", "scipy", "matplotlib", "seaborn", "jupyterlab", "nbval", "pytest"} <= pip_libraries()


def test_every_requirement_is_compatible_release_pinned():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    loose = [line for line in lines if line and "~=" not in line]
    assert not loose, f"pin these with ~=: {loose}"


def test_environment_uses_conda_forge_python_311_and_installs_helpers_editable():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]
    assert any(d.startswith("lightfm=1.17") for d in env["dependencies"] if isinstance(d, str))
    pip_steps = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_steps == [["-e ."]]


def test_makefile_builds_lightfm_without_native_flags():
    makefile = (ROOT / "Makefile").read_text()
    recipe = [line for line in makefile.splitlines() if line.startswith("\t")]
    build_line = next(line for line in recipe if "LIGHTFM_NO_CFLAGS" in line)
    assert "LIGHTFM_NO_CFLAGS=1" in build_line and "--no-cache-dir" in build_line


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make lab" in (ROOT / "README.md").read_text()


def test_binder_environment_matches_root_without_the_editable_install():
    root = yaml.safe_load((ROOT / "environment.yml").read_text())
    binder = yaml.safe_load((ROOT / ".binder" / "environment.yml").read_text())
    assert binder["channels"] == root["channels"]
    assert binder["dependencies"] == [d for d in root["dependencies"] if isinstance(d, str)]
    post_build = (ROOT / ".binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post_build
    assert (ROOT / ".binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_python_requirement_agrees_everywhere():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11"' in pyproject
    assert "sys.version_info < (3, 11)" in (ROOT / "Makefile").read_text()
    assert "Python 3.11 or newer" in (ROOT / "README.md").read_text()
