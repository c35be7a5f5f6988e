# tripwire-otel developer tasks. `make demo` and `make test` are the two set-up commands.
#
# One venv for every target; each target installs only the extras it needs, once (a stamp
# per set of extras, keyed on pyproject.toml so that editing it reinstalls):
#   demo       tripwire-otel + openai
#   demo-rag   + qdrant-client
#   demo-agent + openai-agents
#   test, lint, e2e, bench   the test and dev extras (every provider SDK, pytest, ruff, mypy)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(PY) -m pip install --disable-pip-version-check
HASH := $(shell cksum < pyproject.toml | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
RAG_STAMP := $(VENV)/.installed-rag-$(HASH)
AGENT_STAMP := $(VENV)/.installed-agent-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)

.PHONY: install demo demo-rag demo-agent test lint bench e2e clean

# Everything a contributor needs (what `make test` installs).
install: $(TEST_STAMP)

$(PY):
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(PY)
	@echo "==> installing tripwire-otel[openai] into $(VENV) (what the demo needs)"
	$(PIP) -e ".[openai]"
	@touch $@

$(RAG_STAMP): pyproject.toml | $(PY)
	@echo "==> installing tripwire-otel[openai,qdrant] into $(VENV) (what the RAG demo needs)"
	$(PIP) -e ".[openai,qdrant]"
	@touch $@

$(AGENT_STAMP): pyproject.toml | $(PY)
	@echo "==> installing tripwire-otel[openai,openai-agents] into $(VENV) (what the agent demo needs)"
	$(PIP) -e ".[openai,openai-agents]"
	@touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	@echo "==> installing tripwire-otel[test,dev] into $(VENV) (every provider SDK, test and lint tools)"
	$(PIP) -e ".[test,dev]"
	@touch $@

demo: $(DEMO_STAMP)
	@echo "==> running examples/support_assistant.py"
	$(PY) examples/support_assistant.py

demo-rag: $(RAG_STAMP)
	$(PY) examples/rag_agent.py

demo-agent: $(AGENT_STAMP)
	$(PY) examples/agent_demo.py

test: $(TEST_STAMP)
	scripts/install-test-deps.sh
	$(PY) -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

e2e: $(TEST_STAMP)
	scripts/install-e2e-deps.sh
	$(PY) -m pytest -q -m e2e tests/e2e

bench: $(TEST_STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

# Mutation testing of the code whose output users act on (docs/testing.md, "Mutation
# testing"): module by module, each mutant against its module's tests only. Results and a
# per-module score table in build/mutate/; MUTATE_GROUPS=refusal,drift... runs only those,
# MUTATE_JOBS (default 2) mutants at once. mutate-sample: a fixed sample of it (CI-sized).
comma := ,
.PHONY: mutate mutate-sample
mutate: $(TEST_STAMP)
	$(PY) scripts/mutate.py $(subst $(comma), ,$(MUTATE_GROUPS))

mutate-sample: $(TEST_STAMP)
	$(PY) scripts/mutate.py --sample --min 100
