"""Every route into the course (make, Binder, conda, Colab) installs the same pins the same way."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT_FILES = [ROOT / "environment.yml", ROOT / ".binder" / "environment.yml"]
# What a conda environment file may name besides requirements.txt's pins: the interpreter, its
# installer and a compiler for LightFM. Every library comes from requirements.txt.
CONDA_TOOLS = {"python", "pip", "c-compiler"}
SUPPORTED = ("3.11", "3.12", "3.13")


def _name(spec: str) -> str:
    return re.split(r"[<>=~!;\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirement_lines() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [s for s in (line.split("#", 1)[0].strip() for line in lines) if s]


def pins() -> dict[str, str]:
    return {_name(spec): spec.replace(" ", "") for spec in requirement_lines()}


def conda_specs(path: Path) -> list[str]:
    dependencies = yaml.safe_load(path.read_text())["dependencies"]
    pip_sections = [d for d in dependencies if isinstance(d, dict)]
    assert not pip_sections, (
        f"{path.relative_to(ROOT)} has a pip section: it could not build LightFM with "
        "LIGHTFM_NO_CFLAGS=1; tools/install.sh installs requirements.txt instead")
    return dependencies


@pytest.mark.parametrize("path", ENVIRONMENT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_environment_files_name_no_library_and_no_version_of_their_own(path):
    for spec in conda_specs(path):
        name = _name(spec)
        if name in CONDA_TOOLS:
            continue
        assert name in pins(), f"{path.name} installs {spec!r}, which requirements.txt does not pin"
        assert spec.replace(" ", "").replace("==", "~=") == pins()[name], (
            f"{path.name} asks for {spec!r}; requirements.txt pins {pins()[name]!r}")


@pytest.mark.parametrize("path", ENVIRONMENT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_environment_files_use_conda_forge_and_a_supported_python(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge"]
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and _name(d) == "python"]
    assert len(pythons) == 1 and pythons[0].split("=", 1)[1] in SUPPORTED, pythons


def test_core_libraries_are_pinned():
    assert {"rectools-lightfm", "pandas", "numpy", "scipy", "matplotlib", "seaborn", "jupyterlab",
            "nbval", "pytest"} <= set(pins())


def test_every_requirement_is_compatible_release_pinned():
    loose = [spec for spec in requirement_lines() if "~=" not in spec]
    assert not loose, f"pin these with ~=: {loose}"


def test_one_install_recipe_builds_lightfm_without_native_flags():
    script = (ROOT / "tools" / "install.sh").read_text()
    build = next(line for line in script.splitlines() if "LIGHTFM_NO_CFLAGS" in line and "pip install" in line)
    assert build.startswith("LIGHTFM_NO_CFLAGS=1 ") and "--no-cache-dir" in build
    assert '-r "$requirements"' in script and "--no-deps -e ." in script


@pytest.mark.parametrize("route, path", [
    ("make", "Makefile"), ("Binder", ".binder/postBuild"), ("Colab", "tools/colab_setup.py"),
    ("conda", "environment.yml"), ("README", "README.md"),
])
def test_every_route_installs_with_the_one_recipe(route, path):
    assert "tools/install.sh" in (ROOT / path).read_text() or '"install.sh"' in (ROOT / path).read_text(), (
        f"{route} ({path}) does not use tools/install.sh")


def test_postbuild_is_executable():
    assert (ROOT / ".binder" / "postBuild").stat().st_mode & 0o111, "repo2docker runs ./.binder/postBuild"


def test_colab_skips_only_the_tools_colab_has_its_own_of():
    skipped = re.search(r'NOT_ON_COLAB = "([^"]+)"', (ROOT / "tools" / "colab_setup.py").read_text()).group(1)
    assert set(skipped.split()) <= {"jupyterlab", "nbval", "pytest", "pyyaml", "playwright"}
    assert "rectools-lightfm" not in skipped


def test_ci_runs_the_readme_test_command_on_every_supported_python():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "binder_replay.sh" in ci and "unshare -n" in ci
    assert all(f"{v}" in ci for v in SUPPORTED[1:])
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme


def test_supported_python_range_agrees_everywhere():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11,<3.14"' in pyproject
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in (ROOT / "Makefile").read_text()
    assert "Python 3.11, 3.12 or 3.13" in (ROOT / "README.md").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_built_environment_is_not_reinstalled_when_files_are_only_touched(tmp_path):
    """The stamp follows the content of what the install reads, so a checkout never re-runs pip."""
    for name in ("Makefile", "requirements.txt", "pyproject.toml", "tools/install.sh"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)

    def planned() -> str:
        return subprocess.run(["make", "-n", "env", f"VENV={venv}", f"PYTHON={sys.executable}"],
                              cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    assert "install.sh" in planned()  # nothing installed yet: the recipe would run
    stamp = next(line for line in planned().splitlines() if line.startswith("touch ")).split()[-1]
    Path(stamp).touch()
    later = os.stat(tmp_path / "requirements.txt").st_mtime + 3600
    for name in ("requirements.txt", "pyproject.toml", "tools/install.sh"):
        os.utime(tmp_path / name, (later, later))
    assert "install.sh" not in planned()  # newer files, same content: nothing to do
    with (tmp_path / "requirements.txt").open("a") as requirements:
        requirements.write("# a changed pin list\n")
    assert "install.sh" in planned()  # changed content: reinstall
