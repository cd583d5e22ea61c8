# audiotex: common tasks. `make demo` is the quickest way to hear something.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The venv is (re)installed when this stamp is older than pyproject.toml.
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0
CORES ?= 2

.PHONY: venv demo test test-slurm browser lint schemas bench-quality bench-inversion bench-speed bench-transfer bench-bandlimited bench-plan bench-bulk

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==$(TORCH_VERSION) -e '.[test]'
	touch $@

# The demo manifest (manifest.tsv) with the fast preset: a few minutes on 2 CPU cores. --resources gpu=1 is
# a local cap (one synthesis on a GPU at a time); it is not in profiles/default so it never reaches a cluster.
demo: venv
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 --config preset=fast
	@echo
	@echo "audio:   $(CURDIR)/results/audio/ (one .wav per manifest row)"
	@ls results/audio/*.wav
	@echo "gallery: $(CURDIR)/results/report/index.html"

# The whole suite. The gallery's browser test needs Debian's chromium, installed first where possible.
test: venv browser
	$(BIN)/pytest -q

browser:
	@bash tests/setup_browser.sh

# A real one-node SLURM cluster on this machine (root + apt-get; otherwise it says why it skips), the
# workflow submitted through profiles/slurm, and a synthesis preempted with scancel that resumes.
test-slurm: venv
	bash tests/cluster/run_slurm_test.sh

# Benchmarks (minutes to hours on a CPU; see benchmarks/README.md). Results go to benchmarks/results/.
bench-quality: venv
	$(BIN)/python benchmarks/quality.py

# Style transfer, every preset on 8 content/style pairs: content kept vs moved toward the style, holes, CPU s.
bench-transfer: venv
	$(BIN)/python benchmarks/transfer.py

# Band-limited styles (nothing above 5.5 kHz but a floor): lines, blips and seeded blips above the cutoff.
bench-bandlimited: venv
	$(BIN)/python benchmarks/bandlimited.py --variant "noise_start:init=noise"

bench-inversion: venv
	$(BIN)/python benchmarks/inversion.py

bench-speed: venv
	$(BIN)/python benchmarks/speed.py

# `snakemake -n` time and peak memory at 10,000 and 100,000 rows (real files from data/demo), with shards
# and, at 10,000 rows, one job per row; appended to benchmarks/results/plan.tsv.
bench-plan: venv
	$(BIN)/python benchmarks/plan.py --rows 10000 100000 --config shards=100 --label shards
	$(BIN)/python benchmarks/plan.py --rows 10000 --config shards=0 --label "one row per job"

# Rows per minute of 48 short rows through the workflow (one row per job, and shards) and through one
# in-process loop, side by side, plus one 10 s default-preset texture; appended to benchmarks/results/bulk.tsv.
bench-bulk: venv
	$(BIN)/python benchmarks/bulk.py --rows 48 --shards 0 2 4 --default-rows 1

lint: venv
	$(BIN)/snakemake --lint

# Regenerate the JSON schemas and config.yaml's commented keys from src/audiotex/params.py (tests fail
# while they are stale).
schemas: venv
	$(BIN)/python -m audiotex.manifest --write-schemas schemas/ --write-config-comments config.yaml
