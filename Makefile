# Two entry points: `make demo` and `make test`. Both build .venv themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt
# Nothing may reach a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install system-deps test lint format demo bench constraints clean

# bubblewrap, for the `code` verifier's isolating sandbox (`bwrap`; `auto` falls back to
# `local` with a warning without it). Installed where we may (root on Debian/Ubuntu); anywhere
# else a warning says how. tests/verifiers/test_sandbox_isolation.py needs it as root.
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null); } || \
		echo "warning: bubblewrap (bwrap) is not installed; the code verifier's 'auto' sandbox falls back to 'local' (apt-get install bubblewrap)"

$(VENV)/.installed: pyproject.toml adapters/trl/pyproject.toml adapters/verl/pyproject.toml demo/pyproject.toml examples/plugin/pyproject.toml $(CONSTRAINTS)
	python3 -m venv $(VENV)
	# torch first, pinned: the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[all,dev]" -e adapters/trl -e adapters/verl -e demo -e examples/plugin
	touch $@

install: $(VENV)/.installed system-deps

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest

# `rewardkit demo` comes from the rewardkit-demo distribution (demo/), installed above.
demo: install
	$(VENV)/bin/rewardkit demo

# A quick smoke run of every benchmark (output in bench_out/); BENCH_ARGS=--full for the
# settings behind docs/benchmarks.md.
bench: install
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

constraints: install
	$(PIP) freeze --exclude-editable | grep -v -E '^(torch==|rewardkit)' > $(CONSTRAINTS).new
	echo "torch==2.13.0" >> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf $(VENV) demo_out bench_out .pytest_cache .ruff_cache
