# The two commands of the README: `make lab` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of PyTorch. On a machine where pip would pick a CUDA build, or for another
# torch, override it, e.g.
#   make lab TORCH="torch --index-url https://download.pytorch.org/whl/cpu"   (CPU, any version)
#   make lab TORCH="torch"                                                    (CUDA build from PyPI)
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
STAMP := $(VENV)/.posecourse-installed

.PHONY: install lab test course checkpoints exercises benchmarks clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab lectures/

# pytest exits 5 when it collects no test: that is not a failure of an empty suite.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

course: $(STAMP)
	$(PY) -m posecourse_tools.course

checkpoints: $(STAMP)
	$(PY) -m posecourse_tools.checkpoints

exercises: $(STAMP)
	$(PY) -m posecourse_tools.grading generate

benchmarks: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
