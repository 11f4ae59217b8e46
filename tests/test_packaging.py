"""The install story: pyproject and environment.yml list the same packages; the Makefile and
CI use the README's commands."""
import re
import tomllib

import pytest
import yaml

# conda-forge names of the PyPI packages where they differ
PYPI_TO_CONDA = {"torch": "pytorch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(req: str) -> str:
    return req.strip()[len(_name(req)):].replace(" ", "")


def _pyproject(repo_root):
    with open(repo_root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _conda_deps(repo_root):
    with open(repo_root / "environment.yml") as f:
        env = yaml.safe_load(f)
    assert env["channels"] == ["conda-forge"], "environment.yml must use conda-forge only"
    return [d for d in env["dependencies"] if isinstance(d, str)]


def test_environment_yml_matches_pyproject(repo_root):
    project = _pyproject(repo_root)
    pypi = {PYPI_TO_CONDA.get(_name(r), _name(r)): _spec(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    conda = {_name(d): _spec(d) for d in _conda_deps(repo_root) if _name(d) not in ("python", "pip")}
    assert set(pypi) == set(conda), f"only in pyproject: {set(pypi) - set(conda)}; only in environment.yml: {set(conda) - set(pypi)}"
    mismatched = {k: (pypi[k], conda[k]) for k in pypi if pypi[k] != conda[k]}
    assert not mismatched, f"version specs differ (pyproject, environment.yml): {mismatched}"


def test_python_versions_agree(repo_root):
    py = _pyproject(repo_root)["requires-python"]
    conda_py = [d for d in _conda_deps(repo_root) if _name(d) == "python"]
    assert conda_py and _spec(conda_py[0]) == py


def test_readme_has_exactly_the_two_commands(repo_root):
    readme = (repo_root / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```(?:bash|sh)?\n(.*?)^```", quick, flags=re.S | re.M)
    lines = [ln for block in commands for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines == ["make lab", "make test"]


def test_ci_runs_the_readme_test_command(repo_root):
    ci = (repo_root / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)
    assert "set -e" in ci


def test_makefile_installs_cpu_torch_first(repo_root):
    mk = (repo_root / "Makefile").read_text()
    assert "TORCH ?= torch==2.13.0" in mk
    install = mk.index("$(TORCH)")
    assert install < mk.index('-e ".[dev]"'), "torch must be installed before the package so pip never picks a CUDA build"


def test_torch_is_the_cpu_build_or_cuda_is_real():
    torch = pytest.importorskip("torch")
    # a CUDA build with no GPU here would be the multi-GB mistake the Makefile avoids
    assert torch.version.cuda is None or torch.cuda.is_available(), f"torch {torch.__version__} is a CUDA build on a machine without a GPU"
