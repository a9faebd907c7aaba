# `make smoke` and `make test` do all set-up themselves, idempotently (see README).
VENV ?= .venv
# The CPU build of this version is what CI installs; on a GPU workstation pip takes the CUDA one.
TORCH ?= torch==2.13.0
export VENV

# `make images` builds the GPU images (IMAGES=vllm for one) with this checkout's git revision
# baked in, which every result then reports (plain `docker compose build` bakes "unknown").
IMAGES ?= pytorch vllm tensorrt

.PHONY: setup venv provision provision-slurm provision-browser images smoke serving-smoke slurm-smoke test lint clean

setup: venv provision

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml containers/harness/requirements.txt orchestrator/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q "$(TORCH)" -e '.[dev,pytorch]'
	touch $@

provision: venv
	@bash scripts/provision-docker.sh

# A one-node Slurm on this (root Debian) machine, for CI and development; a cluster has its own.
provision-slurm:
	@bash scripts/provision-slurm.sh

# Debian's headless Chromium and its driver, for the report's browser tests (tests/browser).
provision-browser:
	@bash scripts/provision-browser.sh

images:
	CAMP_SOURCE_REVISION=$$(PYTHONPATH=containers python3 -m harness.provenance) \
		docker compose --profile gpu build $(IMAGES)

smoke: setup
	$(VENV)/bin/camp run campaigns/smoke.yaml $(SMOKE_ARGS)

# Server mode: the stub's streaming server in its container, a sweep of request rates, an SLO.
serving-smoke: setup
	$(VENV)/bin/camp run campaigns/serving-smoke.yaml $(SMOKE_ARGS)

# The smoke campaign through Slurm + Docker: each run a Slurm job running `docker compose run --rm`.
SLURM_SITE ?= campaigns/sites/one-node.yaml
slurm-smoke: setup provision-slurm
	$(VENV)/bin/camp run campaigns/smoke.yaml --executor slurm --site $(SLURM_SITE) $(SMOKE_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup provision-slurm provision-browser lint
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache .camp-build
