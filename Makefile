# Two commands: `make demo` and `make test`. Both set everything up on first use.
VENV    ?= .venv
PYTHON  ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
             && echo $$p && break; done)
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
JS      := tests/js/node_modules/.installed-stamp

.PHONY: demo test install bytecode serve bench bench-dedupe bench-variants bench-listing bench-serve clean fuzz

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "massage-events needs Python 3.11 or newer (python3.11 not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Bytecode for the project's own modules, as a wheel install writes it: an editable install
# leaves it to the interpreter, which does not write it where PYTHONDONTWRITEBYTECODE is set,
# and every command then compiles ~70 modules again (~0.1 s of CPU a process).
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q aggregator sources templates benchmarks >/dev/null

# ical.js (Thunderbird's parser) for the cross-parser tests; skipped where npm is absent.
$(JS): tests/js/package.json
	@if command -v npm >/dev/null 2>&1 && [ -f tests/js/package.json ]; then \
	  npm ci --prefix tests/js --no-audit --no-fund --silent && touch $(JS); \
	else echo "npm not found: the ical.js cross-parser tests will be skipped"; fi

demo: bytecode
	$(BIN)/massage-events demo

serve: bytecode
	$(BIN)/massage-events demo --serve

test: $(STAMP)
	@-$(MAKE) --no-print-directory $(JS)
	$(BIN)/python -m pytest -q

bench: bytecode
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) demo-out out tests/js/node_modules .pytest_cache

bench-dedupe: bytecode
	$(BIN)/python -m benchmarks.run --dedupe-scale 100000

# accuracy on the variant farm (authors who write the same events differently), held-out seeds 1001-1003
bench-variants: bytecode
	$(BIN)/python -m benchmarks.run --variants

# plain-HTML listings added by `sources add --yes` (no hand-written selectors) against hand-written ones
bench-listing: bytecode
	$(BIN)/python -m benchmarks.listing_recall --sources 40 --seeds 11,12,13

# serve with 150 idle connections open, beside nginx serving the same files
bench-serve: bytecode
	$(BIN)/python -m benchmarks.serve_bench --repeat 3

# atheris harnesses (fuzz/), FUZZ_SECONDS each; outside CI, and atheris stays out of the dependencies.
# A crash leaves its input in fuzz/work/; commit it as tests/fixtures/fuzz/<adapter>/<short-name>.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= ical jsonld html rss mbox text

fuzz: $(STAMP)
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install -q atheris \
	  || echo "atheris cannot be installed here: the harnesses fall back to random mutation of the seeds"
	@status=0; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m fuzz.fuzz_$$t || status=1; \
	done; exit $$status
