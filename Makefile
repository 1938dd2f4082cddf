# Everything a fresh clone needs: `make test` and `make demo` set up the venv and npm packages first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node/node_modules/.installed
LINT_PATHS := src tests bench examples

.PHONY: test lint typecheck pytest demo bench setup node clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,server,brotli]'
	touch $(STAMP)

# The official TypeScript client (npm `spacetimedb`), pinned by node/package-lock.json.
node: $(NODE_STAMP)

$(NODE_STAMP): node/package.json node/package-lock.json
	cd node && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

# Local server + quickstart-chat module, generated bindings (into the gitignored
# examples/quickstart-chat/module_bindings/), two scripted chat clients; exits 0 when both
# saw each other's names and messages.  See examples/quickstart-chat/README.md.
demo: $(STAMP)
	$(BIN)/python examples/quickstart-chat/demo.py

bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node/node_modules .mypy_cache .pytest_cache .ruff_cache
