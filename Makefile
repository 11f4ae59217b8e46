# The README's commands: `make lab` (the course) and `make test` (the suite). Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# --- torch ---
# PyTorch: the CPU build unless you ask for CUDA (README, "Installing PyTorch").
# Linux: torch==$(TORCH_VERSION)+cpu from PyTorch's CPU index (skipped quickly where unreachable) or any index or
# wheel folder pip is configured with; never PyPI's default (CUDA) build. macOS, Windows: PyPI's torch is CPU-only.
#   make lab CUDA=1                 PyPI's default torch (on Linux: the CUDA build, several GB)
#   make lab TORCH="torch==2.5.1"   any other torch >= 2.1, exactly as written
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ifeq ($(CUDA),1)
TORCH ?= torch==$(TORCH_VERSION)
else ifeq ($(shell uname -s),Linux)
TORCH ?= torch==$(TORCH_VERSION)+cpu
TORCH_PIP_ARGS ?= --extra-index-url $(TORCH_CPU_INDEX) --retries 0 --timeout 20
else
TORCH ?= torch==$(TORCH_VERSION)
endif
TORCH_PIP_ARGS ?=
# --- end torch ---
PYTEST_ARGS ?=
EX ?=
LAB_STAMP := $(VENV)/.posecourse-lab-installed
STAMP := $(VENV)/.posecourse-installed

.PHONY: install lab check test test-fast course checkpoints exercises benchmarks start release site clean

# what a student needs: torch, the library and JupyterLab
$(LAB_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
# --- install torch ---
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH)" || { \
	  echo "Could not install $(TORCH). For PyPI's default build (CUDA on Linux): make lab CUDA=1;"; \
	  echo "for another version: make lab TORCH=\"torch==X.Y.Z\" (see README, Installing PyTorch)"; exit 1; }
# --- end install torch ---
	$(PY) -m pip install --quiet -e .
	touch $@

# and what the tests, the course runner, the grader and the site builder need
$(STAMP): $(LAB_STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(STAMP)

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab --LabApp.app_settings_dir=.lab START.md

# runs exercise EX's tests on your own exercises/exEX_*.ipynb: make check EX=03
check: $(LAB_STAMP)
	$(PY) -m posecourse_tools.check $(EX)

# pytest exits 5 when it collects no test: that is not a failure of an empty suite.
# Every test, notebooks and browser included; the 15 slowest are listed at the end.
test: $(STAMP)
	$(PY) -m pytest --durations=15 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

# The quick suite (no slow, notebook or browser test): a few minutes, for the edit-test loop.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not notebooks and not browser" --durations=10 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

course: $(STAMP)
	$(PY) -m posecourse_tools.course

checkpoints: $(STAMP)
	$(PY) -m posecourse_tools.checkpoints

exercises: $(STAMP)
	$(PY) -m posecourse_tools.grading generate

benchmarks: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# START.md's table from the lecture records, lectures/results.json and the notebooks
start: $(STAMP)
	$(PY) -m posecourse_tools.release start

# the student release (no solutions/, hidden tests, answers or grading): release/
release: $(STAMP)
	$(PY) -m posecourse_tools.release build --out release --force

# the course as a static website from the stored notebooks: site/html (serve: make serve-site)
site: $(STAMP)
	$(PY) -m posecourse_tools.site build

serve-site: site
	$(PY) -m http.server --directory site/html 8000

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis release site build
