# Everything a fresh clone needs: `make test` and `make demo` set up the venv (and, where npm
# exists, the npm packages) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node/node_modules/.installed
LINT_PATHS := src tests bench examples

.PHONY: test test-ts lint typecheck pytest demo bench setup node node-if-available clean stress stress-client-fuzz \
	stress-server-fuzz stress-faults stress-durability

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

# `make test` without Node: the Python suite runs and the Node tests skip, saying why.  CI sets
# SPACETIMEDB_REQUIRE_NODE=1 (.ci/run), which makes a missing npm (and, in the tests, a missing
# node) an error, so the conformance tests can never be skipped there.
node-if-available:
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory node; \
	elif [ -n "$$SPACETIMEDB_REQUIRE_NODE" ]; then \
		echo "error: npm not found, and SPACETIMEDB_REQUIRE_NODE is set: the Node tests must run here" >&2; \
		exit 1; \
	else \
		echo "npm not found: the Node tests (tests/node, tests/conformance) will be skipped; install Node 20 and npm to run them"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) node-if-available
	$(BIN)/pytest

test: lint typecheck pytest

# The TypeScript module host alone: its own tests, the schema of the TypeScript ports, the
# upstream scenarios on the TypeScript port of sdk-test, and the conformance and e2e files that
# run the chat module in both languages.  (`make test` runs all of these too.)
test-ts: $(STAMP) node
	$(BIN)/pytest tests/server/test_tsmodule_*.py tests/modules/test_schema_equality.py \
		tests/conformance/test_ts_client_chat.py tests/conformance/test_ts_v1_client_chat.py \
		tests/e2e/test_client_e2e.py
	$(BIN)/pytest tests/upstream --module-lang=ts

# Local server + quickstart-chat module, generated bindings (into the gitignored
# examples/quickstart-chat/module_bindings/), two scripted chat clients; exits 0 when both
# saw each other's names and messages.  See examples/quickstart-chat/README.md.
demo: $(STAMP)
	$(BIN)/python examples/quickstart-chat/demo.py

bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python bench/run.py

# The long versions of the robustness tests (minutes, not part of `make test`).
stress: stress-client-fuzz stress-server-fuzz stress-faults stress-durability

# A decoder's fuzzing: a long hypothesis run ($(1)), then atheris ($(2), coverage-guided) when
# it installs from a prebuilt wheel; a failing input is saved in .fuzz/.
FUZZ_EXAMPLES ?= 20000
FUZZ_RUNS     ?= 300000
define fuzz_stages
	SPACETIMEDB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest $(1) -p no:cacheprovider -q --timeout=3600
	mkdir -p .fuzz
	if $(BIN)/python -m pip install -q --only-binary atheris 'atheris>=2.3'; then \
		$(BIN)/python $(2) -runs=$(FUZZ_RUNS) -timeout=10 -artifact_prefix=.fuzz/ -print_final_stats=1; \
	else \
		echo "atheris has no wheel for this Python: the hypothesis run above is the stress run"; \
	fi
endef

# The client's frame decoder.
stress-client-fuzz: $(STAMP)
	$(call fuzz_stages,tests/fuzz/test_fuzz_client_frames.py,tests/fuzz/atheris_client_frames.py)

# The server's client-message decoder (v2/v3 framing, the v2 and v1 codecs).
stress-server-fuzz: $(STAMP)
	$(call fuzz_stages,tests/fuzz/test_fuzz_server_messages.py,tests/fuzz/atheris_server_messages.py)

# Fault injection: a client with reconnection behind a seeded faulty proxy while transactions
# flow; its cache and its replayed callbacks must end equal to the server's rows.
FAULT_SEEDS        ?= 50
FAULT_TRANSACTIONS ?= 10000
stress-faults: $(STAMP)
	SPACETIMEDB_FAULT_SEEDS=$(FAULT_SEEDS) SPACETIMEDB_FAULT_TRANSACTIONS=$(FAULT_TRANSACTIONS) \
		$(BIN)/pytest tests/faults -p no:cacheprovider -q

# The server SIGKILLed while transactions flow, restarted on its --data-dir: 50 seeds of
# tests/durability/test_sigkill.py (nothing acknowledged lost) and of test_faults_sigkill.py
# (behind the fault proxy, 1,000 transactions each; `make test` runs 2 seeds of 300).
DURABILITY_SEEDS ?= 50
DURABILITY_TRANSACTIONS ?= 1000
stress-durability: $(STAMP)
	SPACETIMEDB_DURABILITY_SEEDS=$(DURABILITY_SEEDS) \
	SPACETIMEDB_DURABILITY_TRANSACTIONS=$(DURABILITY_TRANSACTIONS) \
		$(BIN)/pytest tests/durability/test_sigkill.py tests/durability/test_faults_sigkill.py \
		-p no:cacheprovider -q

clean:
	rm -rf $(VENV) node/node_modules .mypy_cache .pytest_cache .ruff_cache
