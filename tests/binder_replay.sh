#!/usr/bin/env bash
# Replays, in a fresh environment built from nothing, the commands Binder runs on this repository,
# then executes notebooks in it with nbval. conda-forge and mybinder.org are not reachable here, so:
#
#   what repo2docker does (read from its source: buildpacks/conda/__init__.py, buildpacks/base.py)
#   1. `mamba env update --file .binder/environment.yml`: Python 3.11 and pip from conda-forge
#        -> NOT replayed: a new venv of the same Python minor stands in, its pip upgraded as
#           conda-forge's would be current
#   2. copies the repository in, then runs `./.binder/postBuild` from its root, that environment
#      first on PATH, on the buildpack-deps base image (gcc included)
#        -> replayed exactly: same script, same flags, on a copy of the working tree
#   3. starts JupyterLab at urlpath=lab/tree/notebooks/00_start_here.ipynb (the README's badge)
#        -> checked by tests/test_course.py; the notebooks are executed here with nbval
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sed -n 's/^ *- python=\([0-9.]*\)$/\1/p' .binder/environment.yml)
python=${BINDER_PYTHON:-$(command -v "python$want" || command -v python3)}
have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have" != "$want" ]; then
    echo "binder replay: .binder/environment.yml asks for Python $want, $python is $have" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/repo"
# The working tree as repo2docker would copy it: tracked and new files, nothing git ignores (.venv*).
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/repo"

"$python" -m venv "$work/env"
"$work/env/bin/python" -m pip install --quiet --upgrade pip
started=$SECONDS
(cd "$work/repo" && PATH="$work/env/bin:$PATH" ./.binder/postBuild)
echo "binder replay: postBuild took $(( SECONDS - started )) s"

cd "$work/repo"
PATH="$work/env/bin:$PATH" python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
    --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
    notebooks/00_start_here.ipynb notebooks/02_pure_matrix_factorization.ipynb

# Colab: every notebook's first cell, run as Colab would (a stand-in google.colab module, the clone
# from a local copy instead of GitHub, /content replaced by a temporary folder), in the same fresh env.
git -C "$work/repo" init -q && git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=replay -c user.email=replay@localhost commit -qm replay
PATH="$work/env/bin:$PATH" python - "$work" <<'PY'
import json, os, sys, types
work = sys.argv[1]
cell = "".join(json.load(open("notebooks/00_start_here.ipynb"))["cells"][1]["source"])
assert cell.startswith("# Google Colab only:"), "the first code cell is not the Colab cell"
course = f"{work}/content/lightfm-course"
cell = cell.replace("/content/lightfm-course", course)
cell = cell.replace(cell.split('url = "', 1)[1].split('"', 1)[0], f"{work}/repo")
sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = types.ModuleType("google.colab")
exec(compile(cell, "colab-cell", "exec"))
import helpers
assert helpers.__file__.startswith(course), helpers.__file__
assert os.getcwd() == f"{course}/notebooks", os.getcwd()
print(f"colab replay: {len(helpers.load_movielens().ratings):,} ratings loaded from the clone")
PY
