# norgate: `make run` starts the whole stack, `make test` runs the whole suite.
# Both set up what they need first: virtualenv, PostgreSQL, RabbitMQ, database.

SHELL := /bin/bash
# Empty: the OS's own python3 when it is 3.11+, else python3 on PATH (ensure-python.sh).
PYTHON ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The versions the suite passed with (deploy/scripts/freeze-constraints.py): a fresh
# clone installs those, within pyproject.toml's floors.
CONSTRAINTS := constraints.txt

.PHONY: run test bench chaos venv infra provision lint clean help browser compose-secrets \
	compose-test compose-chaos

help:
	@echo "make run    set up and start the whole stack in the foreground (Ctrl-C stops it)"
	@echo "make test   set up and run the whole test suite against real PostgreSQL and RabbitMQ"
	@echo "make bench  run the benchmarks and print their figures (bench/results/)"
	@echo "make chaos  faults under load (kill -9, broker and database outages, failing webhooks), then consistency checks"
	@echo "make lint   ruff and mypy over the code (make test runs it first)"
	@echo "make compose-secrets  per-service env files for docker compose (var/compose/)"
	@echo "make compose-test  docker compose up for real: a merchant's first payment through it"
	@echo "make compose-chaos two replicas of every service, three RabbitMQ nodes; kill some under load"

$(STAMP): pyproject.toml sdk/python/pyproject.toml $(CONSTRAINTS)
	@bash deploy/scripts/ensure-python.sh "$(PYTHON)" "$(VENV)"
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) \
		-e '.[dev]' -e sdk/python
	@touch $(STAMP)

venv: $(STAMP)

infra:
	@bash deploy/scripts/ensure-infra.sh

# Both read this checkout's generated secret key and SUPER password (var/secrets.env,
# created on first use) for whichever of the two the environment does not set.
provision: venv infra
	@$(PY) -m deploy.provision --local-secrets

run: venv infra provision
	exec $(PY) -m deploy.run

browser:
	@bash deploy/scripts/ensure-chromium.sh
	@bash deploy/scripts/ensure-axe.sh

# lint first: it takes seconds, and CI (.ci/run) runs only `make test`.
test: lint infra browser
	@bash deploy/scripts/ensure-tools.sh pdftotext:poppler-utils
	$(PY) -m pytest $(PYTEST_ARGS)
	@bash sdk/js/test.sh
	@bash sdk/react/test.sh
	@if [ "$${NORGATE_COMPOSE_TESTS:-1}" != 0 ]; then $(MAKE) --no-print-directory compose-test; fi

bench: venv infra
	$(PY) -m bench.run

chaos: venv infra
	$(PY) -m bench.chaos

# docker compose reads var/compose/<service>.env: each service's own secrets only.
compose-secrets: venv
	@$(PY) -m deploy.service_secrets compose var/compose

# mypy's files and strictness are in pyproject.toml ([tool.mypy]).
# docker-compose.yml for real (deploy/compose/compose-test.sh): its own Docker engine when
# none answers (root: apt-get), images from the registry or local stand-ins, up --wait,
# tests/compose through the published gateway, then down -v and the engine stopped.
compose-test: venv
	@bash deploy/compose/compose-test.sh tests/compose -q -m "compose and not replicas"

# The same with deploy/compose/replicas.yml: replicas and broker nodes killed under load.
compose-chaos: venv
	@bash deploy/compose/compose-test.sh --replicas tests/compose -q -m replicas

lint: venv
	$(PY) -m ruff check services shared deploy tests bench sdk/python
	$(PY) -m mypy

# var/secrets.env stays: the database it keys (role passwords, sealed secrets) outlives
# clean. Remove it together with that database to start afresh.
clean:
	rm -rf $(VENV) .pytest_cache
	@if [ -d var ]; then find var -mindepth 1 -maxdepth 1 ! -name secrets.env -exec rm -rf {} +; fi
