# The README's two commands: `make demo` and `make test`. Both set up what they need first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: demo test install lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap-python.sh
	PY=$(PY) sh scripts/bootstrap-python.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	# the demo's screenshots need Chromium: installed here when missing (as root), as make test does
	sh scripts/ensure-chromium.sh || echo 'warning: no Chromium, the demo renders no screenshots' >&2
	$(BIN)/guichets demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: install
	$(MAKE) --no-print-directory lint typecheck
	sh scripts/ensure-chromium.sh
	sh scripts/ensure-axe.sh >/dev/null
	sh scripts/ensure-systemd-analyze.sh
	GUICHETS_TEST_PG="$$(sh scripts/ensure-postgres.sh)" GUICHETS_NO_SKIP=1 $(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# What one probe costs, robot against headless browser (figures, no assertions): docs/benchmarks.md.
bench: install
	$(PIP) install -c constraints.txt -e '.[bench]'
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(BIN)/python bench/probe.py
