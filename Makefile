# make run  - install what is missing, build the demo picture, run the worked example, then serve it
#             with the battalion scenario playing live, ten times faster than real time
# make test - install what is missing, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := holdfire-data-demo

WEB    := web/node_modules/.installed
UI     := src/holdfire/ui/index.html
# Debian's chromium drives the browser tests; a Korean font lets their screenshots show Hangul.
BROWSER_PKGS := chromium fonts-nanum

.PHONY: install web browser run demo test lint typecheck unit bench soak fuzz fuzz-props clean

# setup.py compiles these modules with mypyc, in place: a change to one rebuilds them all, and
# compiled files left from an earlier list go first (an extension module shadows its source).
COMPILED := $(shell sed -n 's/^ *"\(src\/holdfire\/.*\.py\)",$$/\1/p' setup.py)

$(STAMP): pyproject.toml setup.py $(COMPILED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	find src -name '*.so' -delete
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(WEB): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB)

$(UI): $(WEB) web/build.mjs web/index.html $(wildcard web/src/*)
	node web/build.mjs

web: $(UI)

browser:
	@if ! command -v chromium >/dev/null || ! fc-list :lang=ko | grep -q .; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q $(BROWSER_PKGS) >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q $(BROWSER_PKGS) >/dev/null; }; \
	fi

run: install web
	rm -f $(DEMO)/holdfire.db $(DEMO)/holdfire.db-wal $(DEMO)/holdfire.db-shm
	$(BIN)/holdfire import --data $(DEMO) examples/kursk/units.csv examples/kursk/reports.json examples/kursk/measures.geojson
	$(BIN)/holdfire check --data $(DEMO) "51.35035, 35.1003" --weapon fpv-drone --type tor ; echo "exit code $$? (0 no known conflict, 3 coordinate or danger close, 4 hold)"
	$(BIN)/holdfire check --data $(DEMO) 36UXB5685285590 --weapon guided-missile-small --type 2s1 ; echo "exit code $$? (0 no known conflict, 3 coordinate or danger close, 4 hold)"
	$(BIN)/holdfire check --data $(DEMO) "51.3000, 35.3500" --weapon 155mm-howitzer --type t-72 --pid observer --pid-detail "OP-3 confirmed hostile crews" ; echo "exit code $$? (0 no known conflict, 3 coordinate or danger close, 4 hold)"
	$(BIN)/holdfire serve --data $(DEMO) --scenario kursk-battalion --speed 10

lint: install
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz

typecheck: install
	$(BIN)/mypy --strict src/holdfire

unit: install web browser
	$(BIN)/pytest -q

test: lint typecheck unit

# kill -9 a loaded server 100 times on SQLite and on PostgreSQL; one JSON line per backend
soak: install
	$(BIN)/python bench/crash_cycles.py --cycles $${SOAK_CYCLES:-100}

bench: install web browser
	$(BIN)/python bench/check_latency.py

# make fuzz       - every atheris target for FUZZ_SECONDS each, one JSON line per target
# make fuzz-props - the hypothesis property tests with FUZZ_EXAMPLES examples each
FUZZ_SECONDS  ?= 60
FUZZ_EXAMPLES ?= 100000

fuzz: install
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS)

fuzz-props: install
	$(BIN)/python fuzz/run.py --props --examples $(FUZZ_EXAMPLES)

demo: install
	$(BIN)/holdfire demo

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache web/node_modules src/holdfire/ui
