# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install faceprint first:
# `make demo` only the core (numpy, Pillow, onnxruntime, matplotlib: no PyTorch), `make test` PyTorch for training
# ([train]) and the test extras too (dlib, openvino, PostgreSQL's client, an HTTP stack, Selenium, ...).
# TORCH_INDEX=URL installs PyTorch from that index first, e.g. PyTorch's CPU-only build on a machine without an
# NVIDIA GPU (see README).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_INDEX ?=
CORE := $(VENV)/.installed-core
TEST := $(VENV)/.installed-test

.PHONY: setup demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(CORE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $(CORE)

$(TEST): pyproject.toml $(CORE)
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q torch --index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[train,test]"
	touch $(TEST)

setup: $(TEST)

demo: $(CORE)
	$(BIN)/faceprint demo

test: $(TEST)
	$(BIN)/python -m pytest -q

bench: $(TEST)
	$(BIN)/python -m pip install -q -e ".[train,bench]"
	$(BIN)/python benchmarks/mining.py
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
