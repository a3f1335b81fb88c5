# essayflow — the everyday commands. `make run` and `make test` set everything up on a
# fresh machine: the virtualenv, the pinned dependencies, and (when no
# ESSAYFLOW_DATABASE_URL / ESSAYFLOW_NATS_URL is given) embedded PostgreSQL and NATS.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BASELINE := proto-baseline/essayflow.binpb

.PHONY: help venv run demo reset test test-unit test-contract test-integration test-e2e test-cluster lint typecheck \
        proto proto-check proto-baseline subjects bench ts-client clean

help:
	@echo "make run            serve BOS, ELS, CMS and NLP on localhost (embedded PostgreSQL + NATS)"
	@echo "make test           set up and run every test tier"
	@echo "make test-cluster   the tests on a three-node NATS cluster, the long ones too"
	@echo "make demo           drive a REGULAR and a GUEST batch to READY against the running stack"
	@echo "make reset          delete the local stack's data in .data/ (refused while make run runs)"
	@echo "make bench          run the benchmarks, write bench/results/latest.json"
	@echo "make proto          regenerate gen/, docs/api.md, docs/subjects.md and docs/field-limits.md from proto/"
	@echo "make proto-check    buf lint, buf breaking against the baseline, gen/ and subject-table drift"
	@echo "make lint typecheck ruff and mypy"
	@echo "make ts-client      install, generate and build the TypeScript client (make test runs it)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m essayflow_cli.main stack up

demo: $(STAMP)
	$(PY) -m essayflow_cli.main demo

reset: $(STAMP)
	$(PY) -m essayflow_cli.main stack reset --yes

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not cluster" tests

# Every test on the three-node NATS cluster, the long ones (marked cluster) too.
test-cluster: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_cluster.py

test-unit test-contract test-integration test-e2e: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not cluster" tests/$(@:test-%=%)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy essayflow_runtime essayflow_cli services bench tests

proto: $(STAMP)
	PY=$(PY) tools/gen_proto.sh gen
	$(PY) -m essayflow_cli.subjects > docs/subjects.md
	$(PY) -m essayflow_cli.limits > docs/field-limits.md
	$(PY) -m essayflow_cli.apidoc > docs/api.md

proto-check: $(STAMP)
	PY=$(PY) tools/proto_check.sh

proto-baseline: $(STAMP)
	mkdir -p $(dir $(BASELINE))
	$(VENV)/bin/buf build -o $(BASELINE)

# The TypeScript client (clients/typescript): pinned packages, TypeScript generated from proto/, compiled.
ts-client: $(STAMP)
	cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error \
	  && BUF=$(CURDIR)/$(VENV)/bin/buf npm run --silent generate && npm run --silent build

bench: $(STAMP)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
