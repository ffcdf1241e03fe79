# Two commands for a fresh machine (see README.md). VENV can be overridden: make test VENV=/path
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1

.PHONY: install demo test

$(PY):
	python3 -m venv $(VENV)

install: $(PY)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"

demo: install
	$(PY) run_recbole_maskgr.py

test: install
	$(PY) -m pytest tests -q
