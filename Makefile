# Thin entry points; everything real lives in pie_utils and tests/.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python  ## a virtual environment with the exact pins and the package (editable)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .

test: ## the test suite (what CI runs)
	$(BIN)/python -m pytest -q

clean: ## caches and build outputs (not the results store, not the asset cache)
	rm -rf .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
