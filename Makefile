# Smarter Serverless. `make run` starts the local stack; `make test` runs every test.
# Both work on a fresh machine with Python 3.11, Node and make.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 9357
CI_INSTALL ?= $(if $(CI),1,)

.PHONY: install run test test-fast lint page system-deps template bench bench-smoke deploy clean prices

$(STAMP): pyproject.toml layers/core/pyproject.toml layers/plugins/pyproject.toml layers/admin/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e layers/core -e layers/plugins -e layers/admin -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) tests/iam_sim/node_modules/.package-lock.json

# The IAM policy simulator the tenant-isolation tests evaluate policies with (npm).
tests/iam_sim/node_modules/.package-lock.json: tests/iam_sim/package-lock.json
	cd tests/iam_sim && npm ci --no-audit --no-fund

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

frontend/dist/index.html: frontend/node_modules/.package-lock.json $(shell find frontend/src frontend/public frontend/index.html -type f 2>/dev/null)
	cd frontend && npm run build

page: frontend/dist/index.html

run: install page
	PORT=$(PORT) $(PY) -m smarter_local

# Chromium (the page tests) and PostgreSQL (the SQL plugin tests) come from Debian.
system-deps:
	@bash scripts/system-deps.sh

template: install
	bash scripts/check-template.sh

# ruff with the rules pinned in pyproject.toml ([tool.ruff]); seconds, so it runs first.
lint: install
	$(VENV)/bin/ruff check .

test: install page system-deps lint
	cd frontend && npm test
	$(PY) -m pytest

# The page too: the local-stack tests serve frontend/dist, which a fresh clone does not have.
test-fast: install page
	$(PY) -m pytest -m "not sam and not browser"

bench: install
	$(PY) -m bench

bench-smoke: install
	$(PY) -m bench --smoke

# Needs AWS credentials: builds, deploys the stack, then uploads the page and its config.json.
deploy: install page
	SMARTER_FETCH_RDS_CA=1 bash scripts/check-template.sh
	SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam deploy
	$(PY) -m smarter_local.deploy --stack $${STACK_NAME:-smarter-serverless}

clean:
	rm -rf .aws-sam frontend/dist test-artifacts

# Refresh the vendored model price map from the LiteLLM the bench installs (.venv-litellm).
prices: install
	$(PY) -c "import bench.litellm_proxy as l; l.ensure_installed()"
	$(PY) scripts/refresh_prices.py
