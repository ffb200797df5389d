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

.PHONY: lab test book data bench grade clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Open the course in JupyterLab (prints the tokened URL; JUPYTER_PORT=… to choose the port).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(JUPYTER_PORT) $(ROOT_FLAG)

## Run the whole test suite (what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest

## Build the self-study book into _build/book/ from the stored outputs (runs no notebook).
book: $(STAMP)
	$(BIN)/python book/build.py

## Rebuild datasets/gp_cholesterol.csv from its calibration targets.
data: $(STAMP)
	$(BIN)/python datasets/reconstruct_gp_cholesterol.py

## Benchmarks: print measured ratios, assert nothing.
bench: $(STAMP)
	$(BIN)/python bench/bench_mixed.py
	$(BIN)/python bench/bench_bootstrap.py
	$(BIN)/python -m bench.bench_grading
	$(BIN)/python bench/bench_notebooks.py

## Grade assignment A for the whole class on dask (sandboxed kernels), with feedback and grades.csv:
## COURSE=path for another course root, WORKERS=n local workers, or SCHEDULER=tcp://host:8786 for the
## workers of a dask scheduler; as root; see grading/README.md.
grade: $(STAMP)
	$(if $(A),,$(error give the assignment: make grade A=<assignment>))
	$(BIN)/python -m grading grade $(A) --course $(COURSE) $(if $(WORKERS),--workers $(WORKERS)) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER))

clean-venv:
	rm -rf $(VENV)
