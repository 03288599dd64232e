# The lab's two commands: `make lab` (set up, start Kafka, open JupyterLab) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: lab test install up down status bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# jupyter refuses to run as root (containers, CI) unless told it may
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

lab: install  ## set everything up, start Kafka, open JupyterLab on the notebooks
	$(VENV)/bin/labkit up
	$(VENV)/bin/jupyter lab notebooks/ $(ROOT_FLAG)

test: install  ## the whole suite: unit and integration tests, and every notebook under nbval
	$(PY) -m pytest tests notebooks $(NBVAL)

up: install
	$(VENV)/bin/labkit up
down:
	$(VENV)/bin/labkit down
status:
	$(VENV)/bin/labkit status

bench: install  ## the benchmarks (not part of the test run)
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV) .pytest_cache
