# Every routine of the course is one target. The environment lives in .venv and is made on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JUPYTER_PORT ?= 8888
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# make grade: the nbgrader course root; local workers (default: one per core) or a dask scheduler's address.
COURSE ?= grading/course
WORKERS ?=
SCHEDULER ?=
# make hub: the environment every account's server runs from, made by an interpreter that every account may
# run (a Python under /root, as pyenv installs it, is out of their reach), and JupyterHub's proxy from npm,
# both in the folder the servers run from: this repository if every account can read it, else the copy that
# grading/hub/install.py keeps (COURSE_HUB_INSTALL) and runs `make hub-serve` in.
HUB := grading/hub
HUB_PYTHON ?= /usr/bin/python3
HUB_ENV := .venv-hub
PROXY := $(HUB_ENV)/proxy/node_modules/.bin/configurable-http-proxy

.PHONY: lab test book student data bench grade private hub hub-serve clean-venv

# $(call make_env,FOLDER,PYTHON,PACKAGES): a virtualenv in FOLDER, made by PYTHON, with what pip's arguments PACKAGES
# name (this repository's helpers among them, editable); FOLDER/.installed marks it done.
define make_env
	test -x $(1)/bin/python || $(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet $(3)
	touch $(1)/.installed
endef

$(STAMP): requirements.txt pyproject.toml
	$(call make_env,$(VENV),$(PYTHON),-r requirements.txt -e .)

## Open the course in JupyterLab (prints the tokened URL; JUPYTER_PORT=… to choose the port).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(JUPYTER_PORT) $(ROOT_FLAG)

## Run the whole test suite (what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest

## Build the self-study book into _build/book/ from the stored outputs (runs no notebook).
book: $(STAMP)
	$(BIN)/python book/build.py

## What a student installs, into _build/student/: a wheel of helpers with the data inside, and a zip of it with the
## lectures and the released assignments (no solutions, no hidden tests); see grading/student/README.md.
student: $(STAMP)
	$(BIN)/python grading/student/build.py

## Rebuild datasets/gp_cholesterol.csv from its calibration targets.
data: $(STAMP)
	$(BIN)/python datasets/reconstruct_gp_cholesterol.py

## Benchmarks: print measured ratios, assert nothing.
bench: $(STAMP)
	$(BIN)/python bench/bench_mixed.py
	$(BIN)/python bench/bench_bootstrap.py
	$(BIN)/python bench/bench_glmm.py
	$(BIN)/python -m bench.bench_grading
	$(BIN)/python -m bench.bench_judging
	$(BIN)/python bench/bench_sandbox.py
	$(BIN)/python bench/bench_notebooks.py
	$(BIN)/python bench/bench_suite.py

## Grade assignment A for the whole class on dask (sandboxed kernels), with feedback and grades.csv:
## COURSE=path for another course root, WORKERS=n local workers, or SCHEDULER=tcp://host:8786 for the
## workers of a dask scheduler; as root, or as any user where bubblewrap can sandbox; see grading/README.md.
grade: $(STAMP)
	$(if $(A),,$(error give the assignment: make grade A=<assignment>))
	$(BIN)/python -m grading grade $(A) --course $(COURSE) $(if $(WORKERS),--workers $(WORKERS)) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER))

## A private course root in DEST whose every autograded number differs from the public course's, drawn from
## the secret SEED (at least 16 characters; keep it, and DEST, out of anything students can read), and from those
## of the earlier copies in AVOID (course roots, e.g. last term's); see grading/README.md.
private: $(STAMP)
	$(if $(and $(SEED),$(DEST)),,$(error give the secret and a new folder: make private SEED=<secret> DEST=<folder>))
	$(BIN)/python -m grading private --seed "$$SEED" --dest "$$DEST" $(foreach a,$(AVOID),--avoid '$(a)')

## A trial JupyterHub for a class on this machine (as root): accounts, formgrader, exchange; prints the
## address and the accounts (COURSE_HUB_PORT=…, COURSE_HUB_IP=0.0.0.0 to open it; see grading/README.md).
hub:
	COURSE_HUB_COURSE=$(abspath $(COURSE)) $(HUB_PYTHON) $(HUB)/install.py

# The hub, from this folder's environment; make hub calls it where the servers run from.
hub-serve: $(HUB_ENV)/.installed $(PROXY)
	$(HUB_ENV)/bin/python $(HUB)/course_hub.py

$(HUB_ENV)/.installed: requirements.txt pyproject.toml
	$(call make_env,$(HUB_ENV),$(HUB_PYTHON),-c requirements.txt -e ".[hub]")

$(PROXY): $(HUB)/package.json $(HUB)/package-lock.json
	@command -v npm >/dev/null || { echo "make hub needs npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	mkdir -p $(HUB_ENV)/proxy && cp $(HUB)/package.json $(HUB)/package-lock.json $(HUB_ENV)/proxy/
	cd $(HUB_ENV)/proxy && npm ci --no-audit --no-fund --loglevel=error
	touch $(PROXY)

clean-venv:
	rm -rf $(VENV)
