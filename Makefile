VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package at the version resolved from pyproject.toml (with the dev extra) and
# tested: `make lock` resolves it again after a dependency changes.
LOCK := requirements.lock

.PHONY: run test lint typecheck lock clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tierline run

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

test: lint typecheck
	$(VENV)/bin/pytest -q

lock:
	test -x $(VENV)/bin/uv || $(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --universal \
		--quiet -o $(LOCK)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
