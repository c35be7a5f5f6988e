# tripwire-otel developer tasks. `make demo` and `make test` are the two set-up commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo demo-rag test lint bench e2e clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,dev]"
	touch $(STAMP)

demo: install
	$(PY) examples/support_assistant.py

demo-rag: install
	$(PY) examples/rag_agent.py

test: install
	scripts/install-test-deps.sh
	$(PY) -m pytest -q

lint: install
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

e2e: install
	scripts/install-e2e-deps.sh
	$(PY) -m pytest -q -m e2e tests/e2e

bench: install
	$(PY) benchmarks/bench.py $(BENCH_ARGS)
