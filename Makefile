# One-command set-up for the course. Every target creates .venv on first use.
#   make lab    open the course in JupyterLab
#   make test   helper unit tests + every notebook re-executed and compared by nbval
#   make run    re-execute every notebook in place (refresh stored outputs)
#   make bench  benchmark scripts (print figures)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The stamp is named after the content of what the install reads, not compared by date: a
# `git pull` or checkout that leaves them unchanged never re-runs pip (so a built .venv works offline).
INSTALL_INPUTS := requirements.txt pyproject.toml tools/install.sh
STAMP  := $(VENV)/.installed-$(shell cat $(INSTALL_INPUTS) | cksum | cut -d" " -f1)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
LAB_ARGS ?=
PYTEST_ARGS ?=

.PHONY: lab test run bench env clean-env

env: $(STAMP)

# tools/install.sh is the one recipe every route uses (make, Binder, conda, Colab): the pins of
# requirements.txt, LightFM built with LIGHTFM_NO_CFLAGS=1, the helpers editable.
$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null || { \
		echo "The course supports Python 3.11 to 3.13; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)."; \
		echo "Point make at another interpreter, e.g.: make test PYTHON=python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
		echo "Could not create $(VENV). On Debian/Ubuntu: sudo apt install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	sh tools/install.sh $(PY)
	@rm -f $(VENV)/.installed*
	@touch $(STAMP)

# JupyterLab refuses to start as root unless told; containers and some workshop VMs run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(PY) -m pytest --doctest-modules --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg $(PYTEST_ARGS) helpers tests notebooks

run: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False $(NOTEBOOKS)

# Scales 0.01, 0.1 and 1.0 of MovieLens-32M's shape: about 10-20 minutes on 2 cores; writes
# benchmarks/RESULTS.md and benchmarks/time_vs_size.png. BENCH_ARGS=--quick for a 30-second smoke run.
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean-env:
	rm -rf $(VENV)
