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

# The demo trains at most DEMO_EPOCHS epochs and DEMO_BUDGET_S seconds (wall clock), whichever ends
# first, to stay under 5 minutes on 2 cores (DEMO_BUDGET_S= : no budget); the model's defaults (10 epochs, no budget) and the README's
# results are unchanged: `python run_recbole_maskgr.py`.
DEMO_EPOCHS ?= 2
DEMO_BUDGET_S ?= 180
DEMO_USER ?= 1

demo: install
	@echo "make demo: MaskGR on ml-100k, a short training: $(DEMO_EPOCHS) epochs$(if $(DEMO_BUDGET_S), or $(DEMO_BUDGET_S) s if that ends first) (the default run trains 10 epochs: python run_recbole_maskgr.py)"
	$(PY) run_recbole_maskgr.py --epochs=$(DEMO_EPOCHS) $(if $(DEMO_BUDGET_S),--train_budget_s=$(DEMO_BUDGET_S))
	@echo
	@echo "Top-10 of the model just trained (briefly: the default 10 epochs score higher) for user $(DEMO_USER):"
	$(PY) -m recbole_maskgr.recommend --checkpoint "$$(ls -t saved/MaskGR-*[0-9].pth | head -n 1)" --users $(DEMO_USER) --show_history

test: install
	$(PY) -m pytest tests -q
