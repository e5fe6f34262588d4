#!/bin/sh
# Installs the course into one Python environment: exactly the pins of requirements.txt, LightFM
# compiled from source with LIGHTFM_NO_CFLAGS=1, then the helpers package editable.
# Every route runs this same script, so every route reproduces the stored outputs:
#   make (into .venv)        sh tools/install.sh .venv/bin/python
#   Binder (.binder/postBuild), conda users, Colab's first cell: sh tools/install.sh python
# COURSE_SKIP="jupyterlab nbval" leaves those pins out (Colab keeps its own Jupyter).
set -eu
PY=${1:-python3}
cd "$(dirname "$0")/.."
requirements=requirements.txt
if [ -n "${COURSE_SKIP:-}" ]; then
    requirements=$(mktemp)
    trap 'rm -f "$requirements"' EXIT
    grep -Ev "^($(echo "$COURSE_SKIP" | tr ' ' '|'))([~=<>! ]|$)" requirements.txt > "$requirements"
fi
lightfm=$(grep -E '^rectools-lightfm' requirements.txt)
# LIGHTFM_NO_CFLAGS=1 drops -march=native and -ffast-math, whose results differ from one CPU to
# the next. --no-cache-dir: a wheel cached from a build without the flag must not be reused.
# --no-deps: its dependencies come with the pins on the next line.
LIGHTFM_NO_CFLAGS=1 "$PY" -m pip install --quiet --no-cache-dir --no-deps "$lightfm"
"$PY" -m pip install --quiet -r "$requirements"
"$PY" -m pip install --quiet --no-deps -e .
