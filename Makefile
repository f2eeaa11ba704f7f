# Two commands on a fresh machine: `make serve` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DATA   ?= data
PORT   ?= 5006
DETECTIONS ?= 1000000

.PHONY: serve test test-fast lint bench demo clean

$(BIN)/xmm-explorer: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

venv: $(BIN)/xmm-explorer

$(DATA)/.demo-done: | $(BIN)/xmm-explorer
	$(BIN)/xmm-explorer --data-dir $(DATA) demo --detections $(DETECTIONS)
	touch $@

demo: $(DATA)/.demo-done

serve: $(BIN)/xmm-explorer $(DATA)/.demo-done
	$(BIN)/xmm-explorer --data-dir $(DATA) serve --port $(PORT)

test: $(BIN)/xmm-explorer
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests -p no:cacheprovider

test-fast: $(BIN)/xmm-explorer
	$(BIN)/python -m pytest tests -m "not ui and not slow" -p no:cacheprovider

lint: $(BIN)/xmm-explorer
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/xmm-explorer
	$(BIN)/python -m tests.benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
