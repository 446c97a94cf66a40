# Two commands matter on a fresh machine: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: system-deps help venv binaries images cluster-up cluster-down demo test lint manifests bench bench-workspaces clean

help:
	@echo "make demo   - local cluster + controllers + example workspaces to Ready"
	@echo "make test   - install everything needed, lint, then run the whole test suite"
	@echo "make images - build the images without docker, push them to the loopback registry (127.0.0.1:5001)"
	@echo "make cluster-up / cluster-down / manifests / lint / bench / bench-workspaces"

$(VENV)/.stamp: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(VENV)/.stamp

# import-linter has a venv of its own: it brings rich, which structlog loads whenever it is importable, and
# the benchmarked controller runs from $(VENV), so rich there would put ~15 MiB the shipped image does not
# have into every figure. It reads the sources; it never imports them.
LINT_VENV := .venv-lint
$(LINT_VENV)/.stamp: constraints.txt
	@test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -q -c constraints.txt import-linter
	@touch $@

binaries:
	@bash hack/cluster/build.sh >/dev/null
	@bash hack/build-helm.sh >/dev/null

# Content-keyed (e2e/images): with nothing changed it only asks the registry. Prints name -> reference as JSON.
images: venv
	@$(PY) -m e2e.images

cluster-up: venv binaries system-deps
	@$(PY) -m e2e.cluster up

cluster-down: venv
	@if [ -x hack/demo/stop-controllers.sh ]; then bash hack/demo/stop-controllers.sh; fi
	@$(PY) -m e2e.cluster down

manifests: venv
	$(PY) hack/gen_crds.py
	$(PY) hack/gen_manifests.py
	$(PY) hack/gen_chart.py

lint: venv $(LINT_VENV)/.stamp
	$(VENV)/bin/ruff check src tests e2e hack bench conftest.py
	PYTHONPATH=src $(LINT_VENV)/bin/lint-imports
	$(VENV)/bin/mypy --strict src tests bench conftest.py

include presets/Makefile.inc

system-deps:
	@bash hack/install-system-deps.sh

test: venv binaries system-deps presets-venv lint presets-lint
	@bash hack/run-tests.sh

demo: venv binaries system-deps
	@bash hack/demo/demo.sh

bench: venv binaries
	$(PY) bench/runtime.py

bench-workspaces: venv binaries
	$(PY) bench/workspaces.py

clean:
	rm -rf $(VENV) $(LINT_VENV) .venv-presets .cluster .mypy_cache .ruff_cache
