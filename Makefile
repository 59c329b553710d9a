# flowdesk: `make serve` runs the desk, `make test` runs the tests. Both set everything up first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export CREWAI_DISABLE_TELEMETRY := true
export OTEL_SDK_DISABLED := true
export CREWAI_TRACING_ENABLED := false
export FLOWDESK_REAL_DATA ?= $(abspath ../shared/data)

.PHONY: install serve demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## the main job: collector + MCP + REST + /healthz on 127.0.0.1:8022 (ARGS=--simulate for offline)
serve: install
	$(VENV)/bin/flowdesk serve $(ARGS)

## offline demo: the whole system against the built-in simulator replaying a real capture
demo: install
	$(VENV)/bin/flowdesk serve --simulate --capture $(FLOWDESK_REAL_DATA)/captures/binance-usdm/btcusdt_20240808.gz $(ARGS)

test: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/pytest -q $(ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

bench: install
	$(VENV)/bin/flowdesk bench ingest

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
