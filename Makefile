# One entry point for every routine task. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast screenshots lint fuzz-api chaos bench bench-routing bench-quality bench-queue bench-ui bench-audit bench-login bench-http bench-intake bench-active bench-loop bench-startup bench-replay bench-partitioning bench-metrics bench-brokers bench-merkle clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install  ## build the demo on SQLite and serve it on http://127.0.0.1:8000
	$(BIN)/signoff demo

lint: install  ## ruff, mypy strict, and the layer rules
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint  ## lint, then every test (unit, integration on SQLite and PostgreSQL, acceptance)
	$(BIN)/pytest

test-fast: lint  ## the inner loop: lint, then every test but those marked slow (processes, browser, concurrency)
	$(BIN)/pytest -m "not slow"

screenshots: install  ## run the browser tests, refreshing the screenshots the docs show in docs/screenshots/
	SIGNOFF_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser -q

fuzz-api: install  ## the schema fuzz test at about 10,000 generated requests per database (20,000 in all; about 5 min)
	SIGNOFF_FUZZ_REQUESTS=12500 $(BIN)/pytest tests/acceptance/test_api_fuzz.py -q -s

chaos: install  ## leases under 5 server SIGKILLs and a PostgreSQL restart, 8 reviewer processes, both databases (5-8 min)
	$(BIN)/python bench/lease_chaos.py

bench-routing: install  ## routing throughput on 1M cases, beside a bare numpy peer
	$(BIN)/python bench/routing_speed.py

bench-quality: install  ## certified error and capacity over 20 splits of 4 datasets, with the anchors (about 8 min)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python bench/routing_quality.py

bench-queue: install  ## claim + submit cycles and next-task latency on both databases, beside procrastinate
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/review_queue.py

bench-ui: install  ## the review workspace's next-task transition with 100k queued tasks, beside the JSON API
	$(BIN)/python bench/review_ui.py

bench-audit: install  ## seal and verify rates of the audit chain and how soon events are sealed, beside bare hashing
	$(BIN)/python bench/audit_chain.py

bench-merkle: install  ## Merkle tree build, checkpoint, proof and verification rates, beside hashing the tree in memory
	$(BIN)/python bench/merkle_checkpoints.py

bench-startup: install  ## CPU time of `signoff --help` and light commands, beside bare Python and a bare Typer app
	$(BIN)/python bench/cli_startup.py

bench-replay: install  ## CPU time of `signoff policy evaluate`, one alpha and two, beside reading and scoring alone
	$(BIN)/python bench/policy_replay.py

bench-login: install  ## GET /api/v1/flows latency beside 100 concurrent wrong logins, and the server's peak memory
	$(BIN)/python bench/login_flood.py

bench-http: install  ## POST /api/v1/flows/{flow}/cases from 16 clients (wrk), one case and batches of 1,000, beside a bare FastAPI endpoint; SQLite and PostgreSQL, 1-4 server processes (about 13 min; --quick: 3 s windows)
	$(BIN)/python bench/http_load.py

bench-intake: install  ## batch intake of 100k and 1M cases of the signoff init flow on both databases, beside its floor (read + predict + bulk insert); --quick: 20k cases
	$(BIN)/python bench/intake.py

bench-active: install  ## labels to reach 99% of the final accuracy, margin sampling against random, 20 seeds (about 2 min)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python bench/active_learning.py

bench-loop: install  ## the learning loop's case study: weekly retraining and gated promotion against a model never retrained, 20 seeds, 2 data sets (about 40 min on 2 shared cores; --quick: 3 seeds, 6 weeks)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python bench/loop_case_study.py --json loop-case-study.json --chart docs/images/loop-case-study.png

bench-partitioning: install  ## cases and audit events, plain against partitioned by month, 10M rows each in a scratch PostgreSQL database (about 15 min, 15 GB of disk; --rows 1000000 for a quick look)
	$(BIN)/python bench/partitioning.py

bench-metrics: install  ## signoff metrics, queues, reviewers, the owner and lead pages and /metrics at 100k and 1M cases on both databases, beside a bare GROUP BY (about 30 min)
	$(BIN)/python bench/metrics_scale.py

bench-brokers: install  ## cases/s from RabbitMQ, Redis Streams and NATS JetStream into SQLite and PostgreSQL, beside each broker's bare consume rate (about 5 min)
	$(BIN)/python bench/brokers.py

bench: bench-routing bench-quality bench-queue bench-ui bench-audit bench-login bench-http bench-intake bench-active bench-loop bench-startup bench-replay bench-partitioning bench-metrics bench-brokers bench-merkle  ## every benchmark

clean:
	rm -rf $(VENV) signoff-demo .mypy_cache .ruff_cache .pytest_cache
