# Thin entry points; everything real lives in pie_utils and tests/.
# test, book and ipynb make the environment first when it is missing or older than the lock.
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Which torch build: cpu (requirements.txt), cuda (requirements-cuda.txt: PyPI's Linux wheel, the
# CUDA build, several GB with its nvidia-* wheels) or auto (cuda when nvidia-smi lists a GPU).
TORCH ?= auto
TORCH_BUILD := $(if $(filter auto,$(TORCH)),$(if $(shell nvidia-smi -L 2>/dev/null),cuda,cpu),$(TORCH))
LOCK := $(if $(filter cuda,$(TORCH_BUILD)),requirements-cuda.txt,requirements.txt)
# PyTorch's CPU index: a CPU setup takes 2.13.0+cpu there (a higher version than PyPI's 2.13.0)
# unless pip's own indexes already serve a +cpu build
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
ifeq ($(filter cpu cuda,$(TORCH_BUILD)),)
$(error TORCH=$(TORCH): allowed: auto, cpu, cuda)
endif
# written last by the install, so an interrupted one is redone; one per build, so switching reinstalls
INSTALLED := $(VENV)/.installed-$(TORCH_BUILD)

PROFILE ?= published
BOOK_DIR ?= build/book-$(PROFILE)
PUBLISH_DIR ?= build/publish
TRAINING_STORE ?= results/published-training
N ?= 2

.PHONY: setup test book ipynb publish train-published published-store verify clean check-setup check-test check-book check-ipynb

# What the system must provide, checked before any work: Python 3.11 while there is no
# environment yet, plus NEEDS_target (browser: chromium and chromedriver for the test that opens
# the built book; npm: MathJax for the offline book). scripts/system_check.py installs what is
# missing with apt-get when run as root (as CI is), and otherwise names the command in one line.
NEEDS_test := browser npm
NEEDS_book := npm
check-setup check-test check-book check-ipynb: check-%:
	@$(PYTHON) scripts/system_check.py --for $* --python $(PYTHON) $(strip $(if $(wildcard $(BIN)/python),,python) $(NEEDS_$*))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The lock of TORCH_BUILD. A CPU setup asks pip which torch it would take for the pin: a +cpu
# build (a local wheel or a configured index) is used as it is; otherwise PyTorch's CPU index is
# added, so a CPU machine never downloads the CUDA build.
$(INSTALLED): $(LOCK) requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	@torch="$$(grep '^torch==' requirements.txt)"; extra=""; \
	if [ "$(TORCH_BUILD)" = cpu ]; then \
	    found="$$($(BIN)/pip install --dry-run --no-deps --ignore-installed --quiet --report - "$$torch" 2>/dev/null \
	        | $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])' 2>/dev/null)"; \
	    case "$$found" in *+cpu) ;; *) echo "pip's indexes offer torch $${found:-none} for $$torch, not a +cpu build: adding $(TORCH_INDEX)"; \
	        extra="--extra-index-url $(TORCH_INDEX)";; esac; fi; \
	echo "$(BIN)/pip install --quiet -r $(LOCK) $$extra"; $(BIN)/pip install --quiet -r $(LOCK) $$extra
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

setup: check-setup $(INSTALLED)  ## a virtual environment with the exact pins (TORCH=auto|cpu|cuda) and the package (editable)

# Two test workers, a module each (its fixtures are built once); tests/conftest.py makes OpenMP
# wait passively, or two workers' threads would spin against each other on 2 cores.
test: check-test $(INSTALLED)  ## lint and format check, then the test suite (what CI runs)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

book: check-book $(INSTALLED)  ## build the HTML book of PROFILE (published: read from results/published, trains nothing; ci|default|full: train what the store lacks first)
	$(BIN)/python scripts/book.py build --profile $(PROFILE)

ipynb: check-ipynb $(INSTALLED)  ## refresh the output-free .ipynb copies of notebooks/ that Colab and Binder open
	$(BIN)/python scripts/book.py ipynb

publish:  ## copy the HTML that make book built for PROFILE into PUBLISH_DIR (with .nojekyll) for a static host
	@test -f $(BOOK_DIR)/src/_build/html/index.html || \
	    { echo "make publish: no built book in $(BOOK_DIR)/src/_build/html; run: make book PROFILE=$(PROFILE)" >&2; exit 1; }
	@test ! -f $(BOOK_DIR)/timings.json || \
	    $(PYTHON) -c 'import json, sys; sys.exit(bool(json.load(open(sys.argv[1]))["failed"]))' $(BOOK_DIR)/timings.json || \
	    { echo "make publish: the last make book PROFILE=$(PROFILE) failed (see $(BOOK_DIR)/timings.json); fix it and rerun it" >&2; exit 1; }
	rm -rf $(PUBLISH_DIR)
	mkdir -p $(PUBLISH_DIR)
	cp -R $(BOOK_DIR)/src/_build/html/. $(PUBLISH_DIR)/
	touch $(PUBLISH_DIR)/.nojekyll
	@echo "make publish: $(PUBLISH_DIR)/index.html (the book of profile $(PROFILE))"

train-published: check-setup $(INSTALLED)  ## train the published profile into TRAINING_STORE (resumable: rerun to go on; hours)
	@# a fresh checkout has no training store: restore it from results/published, go on from there
	test -d $(TRAINING_STORE)/runs || $(BIN)/python -m pie_utils store merge --source results/published --target $(TRAINING_STORE)
	@# what decides a primary claim first (chapter 9's evaluations, chapter 6's retrains), then the
	@# grid's secondary cells; a failure in one step leaves the next to go on ('-')
	-$(BIN)/python -m pie_utils train --profile published --store $(TRAINING_STORE) --study ood dense_long seed_noise
	-$(BIN)/python -m pie_utils train --profile published --store $(TRAINING_STORE) --study without_top_el2n without_random_decile
	$(BIN)/python -m pie_utils train --profile published --store $(TRAINING_STORE)

published-store: check-setup $(INSTALLED)  ## copy what TRAINING_STORE has finished into results/published (manifest, PROGRESS.md)
	$(BIN)/python -m pie_utils store publish --profile published --source $(TRAINING_STORE)

verify: check-setup $(INSTALLED)  ## retrain N randomly drawn published runs from scratch and compare them with the store
	$(BIN)/python -m pie_utils store verify --profile published -n $(N)

clean: ## caches and build outputs (not the results store, not the asset cache)
	rm -rf .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
