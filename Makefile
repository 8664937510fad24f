# Daylock — the front door. `make run` and `make test` are the two commands of the README.
UV ?= uv
PY := .venv/bin/python

.PHONY: install run test lint format e2e bench clean

install:
	$(UV) sync --frozen

run: install
	APP_ENV=development $(PY) -m daylock migrate --no-input
	APP_ENV=development $(PY) -m daylock demo_data
	APP_ENV=development $(PY) -m daylock runserver 127.0.0.1:8000

test: install
	$(PY) -m pytest -n 2 -m "not e2e" $(PYTEST_ARGS)

lint: install
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	APP_ENV=development .venv/bin/mypy src
	.venv/bin/lint-imports
	APP_ENV=development DAYLOCK_VAR_DIR=$$(mktemp -d) $(PY) -m daylock makemigrations --check --dry-run

format: install
	.venv/bin/ruff format src tests bench
	.venv/bin/ruff check --fix src tests bench

e2e: install
	$(PY) -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf var .mypy_cache .ruff_cache
