# Every target sets up the virtual environment itself when it is missing, so on a fresh
# machine one command is enough. torch is pinned first so that pip takes the CPU build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run demo test bench lint clean peers

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[app,ray,dev,traffic]'
	touch $(STAMP)

run: $(STAMP)
	@if [ -f app/Home.py ]; then \
		$(BIN)/sandbox app; \
	else \
		$(BIN)/sandbox run scenarios/onestep_tax.yaml; \
	fi

demo: $(STAMP)
	$(BIN)/sandbox run scenarios/onestep_tax.yaml --out results/onestep_tax
	$(BIN)/sandbox report results/onestep_tax --out results/onestep_tax/report.html

lint: $(STAMP)
	$(BIN)/ruff check sandbox tests benchmarks app

test: $(STAMP)
	$(BIN)/ruff check sandbox tests benchmarks app
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Peer systems for side-by-side benchmarks, each in its own virtual environment.
peers:
	bash benchmarks/peers/setup_foundation.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
