# Set-up happens on demand: `make test` and `make train` build the venv and the data once,
# then reuse them (a second call starts within seconds).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Pinned here, not in pyproject.toml, so other machines can pick their own build:
#   make setup TORCH="torch torchvision"
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Every package's exact version (make lock writes it), installed as pip constraints so the same
# commit installs the same versions. Another Python or torch build: make setup TORCH=... LOCK=
LOCK ?= requirements.lock
CONSTRAINTS := $(if $(LOCK),-c $(LOCK))
DATA_DIR ?= data
INSTALLED := $(VENV)/.installed
# Optional extras (pyproject.toml); the tests use them all. `make setup EXTRAS=dev` is the least.
EXTRAS ?= dev,search,slurm,demo,trackers,export,docs
FASHION_SYSTEM := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
FASHION_LOCAL := $(DATA_DIR)/FashionMNIST/raw/train-images-idx3-ubyte
CHROMIUM := /usr/lib/chromium/chromium
ARGS ?=

.PHONY: setup lock figures data fashion-source browser train lab demo test test-fast lint format tensorboard mlflow dashboard docs clean bench cluster-start cluster-stop

setup: $(INSTALLED) data browser

$(INSTALLED): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH) $(CONSTRAINTS)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]' $(CONSTRAINTS)
	@echo "$(LOCK)" > $@  # the lock it was installed from (tests/test_lock.py)

# The lock from pyproject.toml's ranges as pip resolves them today, for this Python and TORCH
# (nothing is installed; tests/test_lock.py fails when pyproject.toml changes and the lock not).
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --dry-run --ignore-installed --report .lock-report.json $(TORCH) '.[$(EXTRAS)]'
	$(PY) tools/lock.py .lock-report.json "$$($(PY) -c 'import sys; print(*sys.version_info[:2], sep=".")')" "$(TORCH)" > $(LOCK)
	@rm -f .lock-report.json

# Fashion-MNIST's offline source is Debian's package; elsewhere torchvision downloads it.
fashion-source:
	@if [ -f $(FASHION_SYSTEM) ] || [ -f $(FASHION_LOCAL) ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's dataset-fashion-mnist (Fashion-MNIST, offline)..."; \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
	  || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
	  || echo "Note: apt-get could not install dataset-fashion-mnist; torchvision's download is the fallback."; \
	else \
	  echo "Note: Debian's dataset-fashion-mnist needs apt-get and root, which this machine lacks;"; \
	  echo "      Fashion-MNIST will come from torchvision's download if the network is open."; \
	fi

# The lab report's PDF and the browser tests: Debian's chromium (Playwright drives it offline).
browser:
	@if [ -x $(CHROMIUM) ] || command -v chromium >/dev/null || command -v google-chrome >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's chromium (the lab report's PDF, the browser tests)..."; \
	  apt-get install -y -q chromium >/dev/null 2>&1 \
	  || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
	  || echo "Note: apt-get could not install chromium: no lab PDF, and the browser tests skip."; \
	else \
	  echo "Note: no Chromium, and no root to install Debian's: the lab writes no PDF and the"; \
	  echo "      browser tests skip (install chromium, or give lab.chromium=<browser binary>)."; \
	fi

data: $(INSTALLED) fashion-source
	@$(PY) -m mnistlab.data.prepare --root $(DATA_DIR)

train: setup
	$(PY) src/train.py $(ARGS)

# Every run the lab's five questions need (reused from logs/ when done), then one report.
lab: setup
	$(PY) src/lab.py $(ARGS)

# A page on this machine to draw a digit and watch a trained model read it (Ctrl-C stops it).
demo: setup
	$(PY) src/demo.py $(ARGS)

# Test files side by side, each whole in one worker (its fixtures made once): most of a test's
# time is a child process starting up, so two workers share two cores well.
TEST_WORKERS ?= 2
TEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test: setup
	$(TEST) $(ARGS)

# The edit loop: everything but the end-to-end runs of the entry points (under a minute).
test-fast: setup
	$(TEST) -m "not slow" $(ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools

format: $(INSTALLED)
	$(VENV)/bin/ruff format src tests bench tools
	$(VENV)/bin/ruff check --fix src tests bench tools

# A one-machine SLURM cluster to try hydra/launcher=slurm here (root; Debian's packages). The
# tests start their own and stop it. Then: export SLURM_CONF=/tmp/mnistlab-slurm/slurm.conf
cluster-start:
	@cluster/slurm.sh start

cluster-stop:
	@cluster/slurm.sh stop

tensorboard: $(INSTALLED)
	$(VENV)/bin/tensorboard --logdir logs

# The runs logged with logger=mlflow (its local store under logs/), on this machine only.
mlflow: $(INSTALLED)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///logs/mlflow/mlflow.db --host 127.0.0.1 --port 5000

# A search's study in optuna-dashboard, on this machine only (Ctrl-C stops it):
#   make dashboard SEARCH=mlp_optuna       or  make dashboard STORAGE=<a study's URL or journal file>
SEARCH ?= cnn_optuna
STORAGE ?= sqlite:///logs/train/searches/$(SEARCH)/optuna.db
DASHBOARD_PORT ?= 8080
dashboard: $(INSTALLED)
	$(VENV)/bin/optuna-dashboard $(STORAGE) --host 127.0.0.1 --port $(DASHBOARD_PORT)

# The commands whose results the documentation quotes (docs/figures/figures.yaml), run one after
# another here, their files stored in docs/figures/ (NAMES="cnn lab": those only).
figures: $(INSTALLED)
	$(PY) tools/figures.py run $(NAMES)

# The documentation site (docs/), rebuilt as its pages change.
docs: $(INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve -a 127.0.0.1:8000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

bench: setup
	$(PY) bench/bench.py $(ARGS)
