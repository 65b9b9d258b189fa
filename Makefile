# Stockcast: `make help` lists every target. Options pass through as variables:
#   make all TICKERS=AAPL,MSFT SOURCE=sample EPOCHS=60 DEVICE=auto SEED=42
#   make all SOURCE=csv DATA=path/to/PRICES.csv
#   make backtest LEVELS=0.8,0.9      (interval levels; default 0.9)
#   make bench DEVICE=cuda BENCH_ARGS="--amp --repeats 9"
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stockcast-installed

TICKERS ?= AAPL,MSFT
SOURCE  ?= sample
DATA    ?=
EPOCHS  ?=
DEVICE  ?=
SEED    ?=
ENGINE  ?=
LEVELS  ?=
SCOPE   ?=
HORIZON ?=
CALENDAR ?=
CONFIG  ?=
TRIALS  ?=
CONCURRENCY ?=
ARGS    ?=
# The forecast store (forecast, score, backfill, predict): default sqlite:///forecasts.db here;
# `make tracking-server` prints the PostgreSQL one to export.
STORE_URL ?=
FROM    ?=
TO      ?=
# Test modules that start Ray in the test process itself: each runs in a process of its own.
RAY_TESTS = tests/bench/test_bench.py tests/runtime/test_engine.py tests/runtime/test_executors.py \
            tests/runtime/test_executors_cluster.py tests/jobs/test_sweep.py
BENCH_ARGS ?=
SCALE_ARGS ?=
PORT    ?= 5000
TICKER  ?= AAPL
# make serve: local runs the model in .venv; uv in an environment built from its own requirements.txt.
ENV_MANAGER ?= local
# The retrain job reads live data (the CLI's default for it) unless SOURCE or a CONFIG file says
# otherwise: --source is passed only when SOURCE was given on the command line or environment.
RETRAIN_OPTS = --tickers $(TICKERS) \
       $(if $(filter command line environment,$(origin SOURCE)),--source $(SOURCE)) \
       $(if $(DATA),--data $(DATA)) $(if $(CONFIG),--config $(CONFIG)) \
       $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(DEVICE),--device $(DEVICE)) \
       $(if $(SEED),--seed $(SEED)) $(if $(ENGINE),--engine $(ENGINE)) \
       $(if $(LEVELS),--levels $(LEVELS)) $(if $(HORIZON),--horizon $(HORIZON)) \
       $(if $(SCOPE),--scope $(SCOPE)) $(ARGS)

# Only the options that were given; the rest keep the defaults in pipeline/config/. The data
# stages (fetch, features) take the data options alone: each command takes only what it uses.
DATA_OPTS = $(if $(filter csv,$(SOURCE)),,--tickers $(TICKERS)) --source $(SOURCE) \
       $(if $(DATA),--data $(DATA)) $(if $(CONFIG),--config $(CONFIG))
STORE_OPTS = $(if $(STORE_URL),--store-url $(STORE_URL))
OPTS = $(DATA_OPTS) $(if $(EPOCHS),--epochs $(EPOCHS)) \
       $(if $(DEVICE),--device $(DEVICE)) $(if $(SEED),--seed $(SEED)) \
       $(if $(ENGINE),--engine $(ENGINE)) $(if $(LEVELS),--levels $(LEVELS)) \
       $(if $(SCOPE),--scope $(SCOPE)) $(if $(HORIZON),--horizon $(HORIZON)) $(ARGS)

.PHONY: help setup all fetch features train evaluate backtest sweep retrain predict forecast score \
        backfill serve schedule \
        synthetic test-fast test bench bench-rate lint ui tracking-server tracking-server-stop clean clean-runs

help: ## list the targets and the variables they take
	@echo "Usage: make <target> [TICKERS=AAPL,MSFT] [SOURCE=sample|yfinance|csv] [DATA=file.csv]"
	@echo "                     [EPOCHS=n] [DEVICE=auto|cpu|cuda|mps] [SEED=n] [LEVELS=0.9]"
	@echo "                     [CALENDAR=XNYS] [STORE_URL=sqlite:///forecasts.db] [FROM=.. TO=..]"
	@echo "                     [SCOPE=global|ticker] [HORIZON=5] [ARGS='--more options']"
	@echo
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-21s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the project into $(VENV) (first time: a few minutes; log in $(VENV)/install.log)"
	@$(PY) -m pip install --disable-pip-version-check -e '.[dev]' > $(VENV)/install.log 2>&1 \
	  || { tail -n 30 $(VENV)/install.log; echo "error: installing into $(VENV) failed (see $(VENV)/install.log)"; exit 1; }
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project (the other targets do this themselves)

all: $(STAMP) ## fetch, features, train and evaluate every ticker in TICKERS; log to MLflow
	$(PY) -m pipeline all $(OPTS)

fetch: $(STAMP) ## stage 1 alone: load and validate prices
	$(PY) -m pipeline fetch $(DATA_OPTS) $(ARGS)

features: $(STAMP) ## stage 2 alone: split (by calendar date for each group), scale, window
	$(PY) -m pipeline features $(DATA_OPTS) $(if $(SCOPE),--scope $(SCOPE)) $(ARGS)

train: $(STAMP) ## stage 3 alone: train the RNN
	$(PY) -m pipeline train $(OPTS)

evaluate: $(STAMP) ## stage 4 alone: score against the baselines; log to MLflow
	$(PY) -m pipeline evaluate $(OPTS)

backtest: $(STAMP) ## walk-forward backtest with baselines and DM tests (reports/backtest/)
	$(PY) -m pipeline backtest $(OPTS)

sweep: $(STAMP) ## Ray Tune + Optuna over cell, layers, sizes, dropout, lr (TRIALS=20 CONCURRENCY=2)
	$(PY) -m pipeline sweep $(OPTS) $(if $(TRIALS),--trials $(TRIALS)) \
	  $(if $(CONCURRENCY),--concurrency $(CONCURRENCY))

retrain: $(STAMP) ## train challengers on fresh data (SOURCE=yfinance); promote only if better
	$(PY) -m pipeline retrain $(RETRAIN_OPTS)

predict: $(STAMP) ## forecast TICKER's next Closes with the global champion (SCOPE=ticker: its own), store
	$(PY) -m pipeline predict --ticker $(TICKER) --source $(SOURCE) $(if $(DATA),--data $(DATA)) \
	  $(if $(CALENDAR),--calendar $(CALENDAR)) $(STORE_OPTS) $(if $(SCOPE),--scope $(SCOPE))

forecast: $(STAMP) ## nightly: refresh prices, forecast TICKERS (or @watchlist) with champions, store
	$(PY) -m pipeline forecast $(DATA_OPTS) $(if $(CALENDAR),--calendar $(CALENDAR)) $(STORE_OPTS) \
	  $(if $(SCOPE),--scope $(SCOPE)) $(ARGS)

score: $(STAMP) ## score stored forecasts against realised Closes; MLflow monitoring run per ticker
	$(PY) -m pipeline score $(DATA_OPTS) $(STORE_OPTS) $(if $(SCOPE),--scope $(SCOPE)) $(ARGS)

backfill: $(STAMP) ## replay forecast + score over past sessions with the champions (FROM=, TO=)
	$(PY) -m pipeline backfill $(DATA_OPTS) $(STORE_OPTS) $(if $(FROM),--from $(FROM)) \
	  $(if $(TO),--to $(TO)) $(if $(SCOPE),--scope $(SCOPE)) $(ARGS)

serve: $(STAMP) ## serve the global champion (SCOPE=ticker: TICKER's own) on 127.0.0.1:PORT (5001)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/mlflow models serve \
	  -m "models:/stockcast-$(if $(filter ticker,$(SCOPE)),$(TICKER),global)@champion" \
	  --env-manager $(ENV_MANAGER) -h 127.0.0.1 \
	  -p $(if $(filter command line,$(origin PORT)),$(PORT),5001)

synthetic: $(STAMP) ## write N=8 synthetic OHLC tickers (GARCH volatility, path range) to data/synthetic/
	$(PY) -m benchmarks.synthetic --tickers $(or $(N),8) --out data/synthetic $(ARGS)

schedule: ## print crontab lines: retrain after the US close; or forecast + score, retrain on drift
	@echo "# cron reads this in the machine's time zone: 22:30 suits UTC (after the 16:00 New York close"
	@echo "# in both winter and summer time); elsewhere pick a time 1-2 hours after it. Install: crontab -e"
	@echo "30 22 * * 1-5 cd $(CURDIR) && make retrain TICKERS=$(TICKERS) >> $(CURDIR)/retrain.log 2>&1"
	@echo "# or: forecast and score every weekday night, retrain on drift only, and fully on Saturdays"
	@echo "30 22 * * 1-5 cd $(CURDIR) && make forecast score SOURCE=yfinance TICKERS=$(TICKERS) >> $(CURDIR)/monitor.log 2>&1 && make retrain TICKERS=$(TICKERS) ARGS='--retrain-when drift' >> $(CURDIR)/retrain.log 2>&1"
	@echo "0 6 * * 6 cd $(CURDIR) && make retrain TICKERS=$(TICKERS) >> $(CURDIR)/retrain.log 2>&1"

test-fast: $(STAMP) ## the fast tier, between edits: no server, Ray, uv or long training (< 3 min)
	$(PY) -m pytest -m "not slow"

test: $(STAMP) ## run the test suite (offline; installs PostgreSQL for the tracking tests if missing)
	@scripts/tracking-server install
	$(PY) -m pytest $(foreach f,$(RAY_TESTS),--ignore $(f))
	@# Ray keeps per-process state (its token, signal handlers): each module gets a process.
	@set -e; for f in $(RAY_TESTS); do $(PY) -m pytest $$f; done

bench: $(STAMP) ## benchmarks against plain PyTorch, then Ray and tracking (BENCH_ARGS, SCALE_ARGS='--quick')
	$(PY) -m benchmarks.bench $(if $(DEVICE),--device $(DEVICE)) $(BENCH_ARGS)
	@scripts/tracking-server install
	$(PY) -m benchmarks.scaling $(SCALE_ARGS)

bench-rate: $(STAMP) ## make all ENGINE=ray SCOPE=ticker on N=100 synthetic tickers, timed (about 7 min on 2 cores)
	$(PY) -m benchmarks.scaling --rate-only --rate-tickers $(or $(N),100) \
	  --out bench-results/rate.json $(SCALE_ARGS)

lint: $(STAMP) ## ruff (lint, format, banned APIs) and import-linter (the layers' contracts)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

ui: $(STAMP) ## serve the MLflow UI on 127.0.0.1:5000 (PORT=n) and print the URL of the runs
	$(PY) -m pipeline ui --port $(PORT)

tracking-server: $(STAMP) ## start MLflow on PostgreSQL, http://127.0.0.1:5050 (data in .tracking/)
	@TRACKING_PYTHON=$(abspath $(PY)) scripts/tracking-server start

tracking-server-stop: ## stop that server and its PostgreSQL (keeps .tracking/)
	@scripts/tracking-server stop

clean: ## remove generated data, caches and the venv (keeps mlflow.db and mlruns/)
	rm -rf $(VENV) data/raw data/processed reports .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-runs: ## remove every MLflow run and registered model (mlflow.db and mlruns/)
	rm -rf mlflow.db mlruns
