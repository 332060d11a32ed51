# rabbitmq-preflight — every target does its own set-up on a fresh Debian machine (as root).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
LAB     := lab/cluster.sh
LAB_INV := $(or $(PREFLIGHT_LAB_BASE),/tmp/preflight-lab)/inventory.toml

.PHONY: demo test compile lint typecheck unit integration deps venv lab lab-down bench clean install-systemd

demo: venv compile deps lab          ## set up everything, start the 3-node lab cluster, check it
	$(BIN)/preflight check --inventory $(LAB_INV)
	$(BIN)/preflight check --inventory $(LAB_INV) --ssh --select hostname,port,cookie,REMOTE

test: venv compile deps lab lint typecheck   ## set up everything, then ruff, mypy --strict and pytest (unit + lab)
	$(BIN)/pytest -q

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q -m "not lab"

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is required (found $$($(PY) --version))"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

compile: venv             ## byte-compile our modules: an editable install leaves them uncompiled and
	@$(BIN)/python -m compileall -q rabbitmq_preflight rabbitmq_preflight/rules rabbitmq_preflight/service  # PYTHONDONTWRITEBYTECODE may be set (~70 ms a run); compileall skips symlinked directories

deps:                    ## Debian packages the lab needs; installs them only when missing
	@scripts/ensure-deps.sh

lab: deps                ## start (or reuse) the lab; waits while a test session holds the lab lock
	flock -w 1800 /tmp/preflight-lab.lock $(LAB) up 3

lab-down:
	$(LAB) down

bench: venv compile lab   ## every benchmark; each prints its figures
	$(BIN)/python bench/check_vs_diagnostics.py
	$(BIN)/python bench/ha_coverage.py
	$(BIN)/python bench/queue_fetch.py
	$(BIN)/python bench/daemon_memory.py

install-systemd: venv
	scripts/install-systemd.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
