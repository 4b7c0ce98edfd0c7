# One task runner for the README, .ci/run and developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit system-deps venv clean bench-watch bench screenshots

## demo: install everything, publish sample_media on the embedded local stack, check every URL, serve until Ctrl-C
demo: system-deps $(STAMP)
	$(BIN)/mediapub publish sample_media --check --serve

## test: install everything, then lint, type-check and run the whole test suite
test: system-deps $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests bench scripts
	$(BIN)/ruff format --check pipeline tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

## screenshots: docs/index.png and docs/player.png from a local-stack publish of sample_media
screenshots: system-deps $(STAMP)
	$(BIN)/python scripts/screenshots.py

## bench-watch: latency from last write to public readability, and idle CPU of the watcher
bench-watch: system-deps $(STAMP)
	$(BIN)/python bench/watch_bench.py

## bench: mediapub's uploads side by side with boto3, raw PUTs, the AWS CLI and rclone; writes bench/RESULTS.md
bench: system-deps $(STAMP)
	bash bench/install-tools
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

system-deps:
	bash scripts/install-system-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) site .mediapub build dist
