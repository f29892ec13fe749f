# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install faceprint first:
# `make demo` only what the main job needs, `make test` the test extras too (dlib, onnx, openvino, PostgreSQL's
# client, a browser-free HTTP stack, ...). TORCH_INDEX=URL installs PyTorch from that index first, e.g. PyTorch's
# CPU-only build on a machine without an NVIDIA GPU (see README).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_INDEX ?=
CORE := $(VENV)/.installed-core
TEST := $(VENV)/.installed-test

.PHONY: setup demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q torch --index-url $(TORCH_INDEX))

$(CORE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $(CORE)

$(TEST): pyproject.toml $(CORE)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(TEST)

setup: $(TEST)

demo: $(CORE)
	$(BIN)/faceprint demo

test: $(TEST)
	$(BIN)/python -m pytest -q

bench: $(TEST)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/mining.py
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
