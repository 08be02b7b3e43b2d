# Settle: `make run` for the demo, `make test` for the suite. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install system-deps translations bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed translations

# Compiled catalogues are build output: made from the .po files on every install.
translations: $(VENV)/.installed
	@for d in $$(find portal -type d -name translations); do \
	  if ls $$d/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then $(BIN)/pybabel compile -d $$d >/dev/null || exit 1; fi; \
	done


# Demo on plain HTTP at 127.0.0.1: secure-only cookies would not be sent back, so they are relaxed here only.
run: install
	mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) demo
	SETTLE_SESSION_COOKIE_SECURE=false SETTLE_REMEMBER_COOKIE_SECURE=false SETTLE_SMS_PROVIDER=$${SETTLE_SMS_PROVIDER:-file} \
	SETTLE_BASE_URL=http://$(HOST):$(PORT) $(BIN)/python -m portal.serve --host $(HOST) --port $(PORT)

# Tools the tests drive for real: Chromium (browser tests), zbar (QR decoding), poppler (PDF text);
# HarfBuzz-Subset, which WeasyPrint (letters) uses to embed font subsets and warns about when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v zbarimg >/dev/null 2>&1 || missing="$$missing zbar-tools"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

test: install system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/import_csv.py
	$(BIN)/python bench/import_einvoice.py
	$(BIN)/python bench/portal_load.py
	$(BIN)/python bench/reconcile_camt.py

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
