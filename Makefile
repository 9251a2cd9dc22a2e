# Thin entry points; everything real lives in pie_utils and tests/.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

PROFILE ?= default

.PHONY: setup test book ipynb clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python  ## a virtual environment with the exact pins and the package (editable)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .

test: ## lint and format check, then the test suite (what CI runs)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

book: $(BIN)/python  ## train what PROFILE asks for (ci|default|extended|full), run every notebook, build the HTML book
	@test -x $(BIN)/jupyter-book || $(MAKE) setup
	$(BIN)/python scripts/book.py build --profile $(PROFILE)

ipynb: ## refresh the output-free .ipynb copies of notebooks/ that Colab and Binder open
	$(BIN)/python scripts/book.py ipynb

clean: ## caches and build outputs (not the results store, not the asset cache)
	rm -rf .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
