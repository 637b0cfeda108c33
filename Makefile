# fiw: `make demo` and `make test` are all a newcomer needs (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
DEMO := demo
# apt-get needs root: sudo unless make already runs as root (a CI container).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup browser postgres validators demo test pytest lint format dagster bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# The offline page tests drive Debian's Chromium (not a browser Playwright downloads).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# PostgreSQL's server binaries, for the throw-away server the tests start on a free port
# (tests/fixtures/postgres.py: initdb into a temporary folder, as nobody under root). Debian's
# package would also create and start a cluster of its own on port 5432: it is told not to.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || { \
		$(SUDO) mkdir -p /etc/postgresql-common/createcluster.d && \
		echo 'create_main_cluster = false' | \
		$(SUDO) tee /etc/postgresql-common/createcluster.d/fiw-no-main-cluster.conf >/dev/null && \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

# Data to Insight's validators of the statutory returns, in an environment of their own (they pin
# old pandas and numpy): tests/test_returns_validators.py compares fiw with them. Quick once made.
# Outside CI a machine that cannot make it still tests the rest (that comparison then skips).
validators:
	@bash tests/validators/setup.sh >/dev/null || { test -z "$${CI:-}" && \
		echo "make validators failed: tests/test_returns_validators.py will skip" >&2; }

demo: setup
	rm -rf $(DEMO)
	$(BIN)/fiw generate --out $(DEMO)/exports --snapshots 3 --defects 0.002
	$(BIN)/fiw run --exports $(DEMO)/exports --home $(DEMO)/warehouse || test $$? -eq 2
	$(BIN)/fiw metrics --home $(DEMO)/warehouse
	@echo "Data quality: $(CURDIR)/$(DEMO)/warehouse/data_docs/index.html"
	@echo "Catalogue of the published tables: $(CURDIR)/$(DEMO)/warehouse/catalog/index.html"
	@echo "Open data (release): $(CURDIR)/$(DEMO)/warehouse/release/"
	@echo "Evaluation report: $(CURDIR)/$(DEMO)/warehouse/release/report.html   (rebuild: fiw report --home $(DEMO)/warehouse)"
	@echo "Explore the runs: make dagster   (then open http://localhost:3000)"

test: setup browser lint
	$(MAKE) pytest FIW_SQL_LINTED=1

pytest: setup browser postgres validators
	FIW_SQL_LINTED=$(FIW_SQL_LINTED) $(BIN)/pytest

lint: setup
	$(BIN)/ruff check orchestration tests bench dbt_project/models
	$(BIN)/ruff format --check orchestration tests bench dbt_project/models
	cd dbt_project && ../$(BIN)/sqlfluff lint models --processes 2

format: setup
	$(BIN)/ruff format orchestration tests bench dbt_project/models
	$(BIN)/ruff check --fix orchestration tests bench dbt_project/models
	cd dbt_project && ../$(BIN)/sqlfluff fix models --processes 2

dagster: setup
	$(BIN)/fiw prepare --home $(DEMO)/warehouse --exports $(DEMO)/exports
	DAGSTER_HOME=$(CURDIR)/$(DEMO)/warehouse/dagster FIW_HOME=$(CURDIR)/$(DEMO)/warehouse \
	FIW_EXPORTS=$(CURDIR)/$(DEMO)/exports PATH=$(CURDIR)/$(BIN):$$PATH \
	$(BIN)/dagster dev -w workspace.yaml

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(DEMO) dbt_project/target dbt_project/logs .pytest_cache
