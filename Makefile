# Two commands on a fresh machine: `make serve` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DATA   ?= data
PORT   ?= 5006
DETECTIONS ?= 200000

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

# pip's own output is hundreds of lines; show one line that counts the packages instead.
PIP_PROGRESS = awk '/^(Collecting|Obtaining)/ {n++; printf "\r    %d packages resolved", n; fflush()} \
	/^Successfully installed/ {printf "\r    %d packages installed              \n", NF - 2} \
	/^(ERROR|error)/ {print} END {if (n == 0) print "    nothing to install"}'

.PHONY: serve test test-fast lint bench demo clean venv

# Serving needs only the runtime dependencies; the test extras come with `make test`.
$(VENV)/.serve-deps: pyproject.toml
	@echo "==> Installing XMM Explorer and its runtime dependencies into $(VENV) (first run: about 1 min)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --progress-bar off -e . 2>&1 | $(PIP_PROGRESS)
	@touch $@

$(VENV)/.test-deps: pyproject.toml $(VENV)/.serve-deps
	@echo "==> Installing the test tools (pytest, Playwright, ruff, ...)"
	@$(BIN)/pip install --progress-bar off -e ".[test]" 2>&1 | $(PIP_PROGRESS)
	@touch $@

venv: $(VENV)/.serve-deps

$(DATA)/.demo-done: | $(VENV)/.serve-deps
	@echo "==> Generating the synthetic demo catalogue ($(DETECTIONS) detections) in $(DATA)"
	$(BIN)/xmm-explorer --data-dir $(DATA) demo --detections $(DETECTIONS)
	@touch $@

demo: $(DATA)/.demo-done

serve: $(VENV)/.serve-deps $(DATA)/.demo-done
	@echo "==> Starting the server: the page opens once the catalogue is loaded and warmed up"
	$(BIN)/xmm-explorer --data-dir $(DATA) serve --port $(PORT)

test: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest tests -p no:cacheprovider

test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest tests -m "not ui and not slow" -p no:cacheprovider

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.test-deps
	$(BIN)/python -m tests.benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
