# Two commands on a fresh machine: `make generate` and `make test`. Both build .venv themselves.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SPEC   ?= specs/lukhas.yaml
OUT    ?= generated
# Most tests wait on real servers rather than compute: three workers on two cores halve the run.
TEST_WORKERS ?= 3

.PHONY: generate check test tools bench golden clean help demo

help:
	@echo "make generate   write generated/ from $(SPEC) (no services needed)"
	@echo "make check      fail when generated/ differs from what the spec produces"
	@echo "make test       install promtool/amtool if needed, run the whole suite"
	@echo "make bench      reproducible measurements under benchmarks/"
	@echo "make golden     regenerate the golden files under tests/golden (then read the diff)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

generate: $(VENV)/.installed
	$(PY) -m lukhas_obs generate --spec $(SPEC) --out $(OUT)

check: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m lukhas_obs generate --spec $(SPEC) --out $(OUT) --check

tools:
	@scripts/ensure-tools.sh

test: $(VENV)/.installed tools
	# the end-to-end stack alone first: its timers are real. Its healthy-silence check has a known
	# flake (about one run in seven: a minute-old Prometheus measured 0.14 % errors over its 1h
	# window against a 0.015 % workload, and opened a ticket; no scrape had failed), so a failure is
	# said and the stack run once more; a second failure fails make test
	. scripts/tool-env.sh && { $(PY) -m pytest -q -ra -m stack || { echo "make test: the stack test failed once \
	(the known young-window flake, see README); running it once more" >&2; $(PY) -m pytest -q -ra -m stack; }; } \
	&& $(PY) -m pytest -q -ra -n $(TEST_WORKERS) -m "not stack"

golden: $(VENV)/.installed
	$(PY) -m pytest -q -rs tests/test_golden.py --update-golden

bench: $(VENV)/.installed tools
	. scripts/tool-env.sh && $(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache benchmarks/results

demo: $(VENV)/.installed tools
	$(PY) -m lukhas_obs demo
