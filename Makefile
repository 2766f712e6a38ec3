# Two commands for everyone: `make demo` and `make test`. Each creates .venv when missing
# and installs what it needs; re-running only reinstalls when the packaging or the Cython source changed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
BUILD_INPUTS := pyproject.toml setup.py assignment/fast_layers.pyx $(wildcard assignment/fast/*.pxi assignment/fast/*.h)

.PHONY: demo test lint notebooks clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# pip's output goes to .venv/install.log, and is shown when the install fails.
INSTALL = $(PY) -m pip install -e $(1) > $(VENV)/install.log 2>&1 || \
	{ tail -n 40 $(VENV)/install.log; echo "pip install failed: the whole log is $(VENV)/install.log"; exit 1; }

# An extension built before fast_layers.py existed (assignment/fast_layers.*.so) would shadow it: removed first.
STALE := assignment/fast_layers.cpython-*.so assignment/fast_layers.c

$(VENV)/.installed-runtime: $(PY) $(BUILD_INPUTS)
	@rm -f $(STALE)
	@echo "Installing the package into $(VENV) (log: $(VENV)/install.log)..."
	@$(call INSTALL,.)
	@touch $@

$(VENV)/.installed-dev: $(PY) $(BUILD_INPUTS)
	@rm -f $(STALE)
	@echo "Installing the package and the test tools into $(VENV) (log: $(VENV)/install.log)..."
	@$(call INSTALL,'.[dev]')
	@touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(PY) -m assignment.demo

test: $(VENV)/.installed-dev system-deps
	$(PY) -m ruff check $(wildcard assignment grader tests benchmarks notebooks)
	$(PY) -m pytest

# The whole suite again with the compiled extension blocked: the numpy fallback serves the fast
# layers, as on a machine without a C compiler (CI runs it after `make test`; tests of the Cython
# internals skip, saying so).
.PHONY: test-fallback
test-fallback: $(VENV)/.installed-dev system-deps
	ASSIGNMENT_FAST_LAYERS=numpy $(PY) -m pytest

# What the suite needs from the system, so that it skips nothing here: bubblewrap and a system Python
# (the grader's hostile suite runs in three modes, the container-mode batches in a venv of Debian's
# python3.11), libseccomp2, and the full Fashion-MNIST (Debian's dataset-fashion-mnist: the embedded
# subset is checked against it). As root on Debian they are installed when missing.
FMNIST := /usr/share/datasets/fashion-mnist
.PHONY: system-deps
system-deps:
	@if [ "$$(uname)" = Linux ] && { ! command -v bwrap >/dev/null || [ ! -x /usr/bin/python3.11 ] || [ ! -d $(FMNIST) ]; }; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			(apt-get update -qq && apt-get install -y -qq bubblewrap python3.11 libseccomp2 dataset-fashion-mnist) >/dev/null; \
		else echo "make test needs bubblewrap, /usr/bin/python3.11 and $(FMNIST) (apt-get install bubblewrap python3.11 dataset-fashion-mnist)"; fi; \
	fi

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check $(wildcard assignment grader tests benchmarks notebooks)

clean:
	rm -rf build assignment/*.c assignment/*.so $(VENV)

.PHONY: bench
bench: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_layers.py --write

# Execute the six notebooks, built from notebooks/*.py, in a scratch copy with nbclient, outputs kept for
# reading in build/notebooks/ (full training budgets; small ones when CI or ASSIGNMENT_FAST_NOTEBOOKS is set).
# The tracked top-level .ipynb are never written here: `$(PY) scripts/build_notebooks.py` writes them, clean.
notebooks: $(VENV)/.installed-dev
	$(PY) scripts/build_notebooks.py --execute --into build/notebooks

# The grader on real fleets (issue 24): Gradescope and PrairieLearn in a real Docker daemon, Slurm array
# jobs on a single-node Slurm. Each test starts the daemons it needs (dockerd with its data root and socket
# under /var/tmp, munge, slurmctld, slurmd); the Debian root the images start from is built once with
# mmdebstrap and cached outside the checkout (ASSIGNMENT_FLEET_CACHE, default /var/tmp/assignment-fleet-cache).
# As root on Debian, the packages are installed when missing. .ci/run calls it after `make test`.
FLEET_DEBS := docker.io mmdebstrap slurmctld slurmd slurm-client munge
.PHONY: test-fleets fleet-deps
fleet-deps:
	@if [ "$$(uname)" = Linux ] && { ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null || \
		! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; }; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(FLEET_DEBS)) >/dev/null; \
		else echo "make test-fleets needs root and Debian's $(FLEET_DEBS)"; exit 1; fi; \
	fi

test-fleets: $(VENV)/.installed-dev system-deps fleet-deps
	$(PY) -m pytest -m fleet
