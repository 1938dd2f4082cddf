# Everything a fresh clone needs: `make test` and `make demo` set up the venv (and, where npm
# exists, the npm packages) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node/node_modules/.installed
LINT_PATHS := src tests bench examples

.PHONY: test test-ts lint typecheck pytest demo bench setup ext node node-if-available clean stress \
	stress-client-fuzz stress-ext-fuzz stress-server-fuzz stress-faults stress-durability

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,server,brotli]'
	touch $(STAMP)

# The optional C extension (src/spacetimedb_sdk/_speedups/), built in place next to its
# sources, again whenever they change.  The editable install builds it too; where no C
# compiler exists this says so and the pure-Python code paths run (CI requires it:
# SPACETIMEDB_REQUIRE_EXTENSION, set by .ci/run, fails the differential tests without it).
EXT_SOURCES := $(wildcard src/spacetimedb_sdk/_speedups/*.c src/spacetimedb_sdk/_speedups/*.h)
EXT_STAMP   := build/.ext-built

ext: $(EXT_STAMP)

$(EXT_STAMP): $(EXT_SOURCES) setup.py | $(STAMP)
	@mkdir -p build
	@if $(BIN)/python setup.py build_ext --inplace >build/ext.log 2>&1; then \
		touch $(EXT_STAMP); \
	else \
		echo "warning: the C extension did not build (see build/ext.log): the tests run the pure-Python code paths"; \
	fi

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

pytest: $(STAMP) $(EXT_STAMP) node-if-available
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

bench: $(STAMP) $(EXT_STAMP) $(NODE_STAMP)
	$(BIN)/python bench/run.py

# $(call atheris,SCRIPT ARGS,WHAT ELSE RAN): a coverage-guided atheris run when atheris installs
# from a prebuilt wheel (a failing input is saved in .fuzz/); else say what the stress run was.
define atheris
	mkdir -p .fuzz
	if $(BIN)/python -m pip install -q --only-binary atheris 'atheris>=2.3'; then \
		$(BIN)/python $(1) -artifact_prefix=.fuzz/ -print_final_stats=1; \
	else \
		echo "atheris has no wheel for this Python: $(2) is the stress run"; \
	fi
endef

# The long versions of the robustness tests (minutes, not part of `make test`).
stress: stress-client-fuzz stress-ext-fuzz stress-server-fuzz stress-faults stress-durability

# A decoder's fuzzing: a long hypothesis run ($(1)), then atheris ($(2), coverage-guided) when
# it installs from a prebuilt wheel; a failing input is saved in .fuzz/.
FUZZ_EXAMPLES ?= 20000
FUZZ_RUNS     ?= 300000
define fuzz_stages
	SPACETIMEDB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest $(1) -p no:cacheprovider -q --timeout=3600
	$(call atheris,$(2) -runs=$(FUZZ_RUNS) -timeout=10,the hypothesis run above)
endef

# The client's frame decoder.
stress-client-fuzz: $(STAMP)
	$(call fuzz_stages,tests/fuzz/test_fuzz_client_frames.py,tests/fuzz/atheris_client_frames.py)

# The server's client-message decoder (v2/v3 framing, the v2 and v1 codecs).
stress-server-fuzz: $(STAMP)
	$(call fuzz_stages,tests/fuzz/test_fuzz_server_messages.py,tests/fuzz/atheris_server_messages.py)

# The compiled extension against pure Python: the differential tests with many more examples
# under an AddressSanitizer + UBSan build of the C code (tests/fuzz/asan_ext.py, where the
# compiler has the sanitizer runtimes), then atheris, coverage-guided on the Python side
# (tests/fuzz/atheris_bsatn_ext.py); a failing input is saved in .fuzz/.
EXT_EXAMPLES  ?= 5000
EXT_FUZZ_RUNS ?= 20000
stress-ext-fuzz: $(STAMP) $(EXT_STAMP)
	SPACETIMEDB_EXT_EXAMPLES=$(EXT_EXAMPLES) $(BIN)/python tests/fuzz/asan_ext.py -q; \
		status=$$?; if [ $$status -eq 2 ]; then \
		SPACETIMEDB_REQUIRE_EXTENSION=1 SPACETIMEDB_EXT_EXAMPLES=$(EXT_EXAMPLES) $(BIN)/python -X dev -m pytest \
			tests/sats/test_bsatn_extension.py tests/protocol/test_rows_extension.py -p no:cacheprovider -q; \
		elif [ $$status -ne 0 ]; then exit $$status; fi
	$(call atheris,tests/fuzz/atheris_bsatn_ext.py -runs=$(EXT_FUZZ_RUNS) -timeout=60,the differential run above)

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
	rm -rf $(VENV) node/node_modules .mypy_cache .pytest_cache .ruff_cache build
	find src -name '*.so' -delete
