"""The install story: pyproject and environment.yml list the same packages; the Makefile and
CI use the README's commands."""
import platform
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

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
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    return deps + [d for extra in env["dependencies"] if isinstance(extra, dict) for d in extra.get("pip", [])]


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


def _commands(section: str) -> list[str]:
    blocks = re.findall(r"^```(?:bash|sh)?\n(.*?)^```", section, flags=re.S | re.M)
    return [ln for block in blocks for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def _section(readme: str, title: str) -> str:
    return readme.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_commands(repo_root):
    """A student's two commands first; the developers' test command in its own section."""
    readme = (repo_root / "README.md").read_text()
    assert _commands(_section(readme, "Taking the course")) == ["make lab", "make check EX=01"]
    assert _commands(_section(readme, "Developing the course")) == ["make test"]


def test_ci_runs_the_readme_test_command(repo_root):
    ci = (repo_root / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)
    assert "set -e" in ci


def _dry_run(repo_root, *args) -> list[str]:
    out = subprocess.run(["make", "-n", *args, "VENV=/nonexistent-venv"], cwd=repo_root, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.skipif(platform.system() != "Linux", reason="the Linux default is what is checked here")
def test_makefile_installs_cpu_torch_first_unless_cuda_is_asked_for(repo_root):
    lines = _dry_run(repo_root, "lab")
    torch = [i for i, ln in enumerate(lines) if "pip install" in ln and "torch==" in ln]
    course = [i for i, ln in enumerate(lines) if "pip install --quiet -e ." in ln]
    assert torch and course and torch[0] < course[0], "torch must be installed before the package"
    line = lines[torch[0]]
    assert '"torch==2.13.0+cpu"' in line and "--extra-index-url https://download.pytorch.org/whl/cpu" in line, line
    assert "--retries 0" in line, "an unreachable PyTorch index must be skipped quickly"
    assert "exit 1" in " ".join(lines[torch[0]:course[0]]), "no silent fallback to another build"
    assert not any(".[dev]" in ln for ln in lines), "make lab installs no dev extra"
    cuda = [ln for ln in _dry_run(repo_root, "lab", "CUDA=1") if "torch==" in ln and "pip install" in ln]
    assert cuda and '"torch==2.13.0"' in cuda[0] and "whl/cpu" not in cuda[0], cuda
    own = [ln for ln in _dry_run(repo_root, "lab", "TORCH=torch==2.5.1") if "pip install" in ln and "torch==" in ln]
    assert own and '"torch==2.5.1"' in own[0], own
    dev = _dry_run(repo_root, "test")
    assert any('-e ".[dev]"' in ln for ln in dev)


def test_readme_says_what_each_platform_installs(repo_root):
    section = _section((repo_root / "README.md").read_text(), "Installing PyTorch")
    for words in ("**Linux:**", "**macOS:**", "**Windows**", "CUDA=1", "torch==2.13.0+cpu", "--retries 0"):
        assert words in section, words


def test_torch_is_the_cpu_build_or_cuda_is_real():
    torch = pytest.importorskip("torch")
    # a CUDA build with no GPU here would be the multi-GB mistake the Makefile avoids
    assert torch.version.cuda is None or torch.cuda.is_available(), f"torch {torch.__version__} is a CUDA build on a machine without a GPU"


def test_library_imports_no_notebook_tooling():
    """``import posecourse`` and every library module leave nbformat, nbgrader, papermill and nbclient
    unimported: they belong to the tools (posecourse_tools), not to what students import."""
    import subprocess
    import sys

    code = ("import pkgutil, importlib, sys, posecourse\n"
            "for m in pkgutil.walk_packages(posecourse.__path__, 'posecourse.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('nbformat', 'nbgrader', 'papermill', 'nbclient'))\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_no_library_default_device_is_the_cpu_string(repo_root):
    """device defaults go through utils.resolve_device(None) (CUDA when present): no ``device="cpu"`` default."""
    hits = [f"{p.relative_to(repo_root)}:{i}" for p in (repo_root / "posecourse").rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"device\s*=\s*[\"']cpu[\"']", line) and "map_location" not in line]
    assert not hits, hits


@pytest.mark.slow
def test_installed_package_loads_and_evaluates_a_shipped_model(repo_root, tmp_path):
    """``pip install .`` (not editable) into a fresh venv, run outside the checkout: the shipped checkpoints
    are package data, so a lecture's trained model loads and evaluates there."""
    import os
    import subprocess
    import sys
    import sysconfig
    import venv

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # the dependencies (torch, numpy, ...) come from this environment's site-packages, added as a plain path
    # (no .pth processing, so this environment's editable posecourse is not visible); posecourse itself is
    # built and installed from the checkout
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # build the wheel with this environment's setuptools (no download), install it like `pip install .`; from a
    # clean copy of the sources: an in-tree build reuses the checkout's build/lib, stale modules included
    src = tmp_path / "src"
    for name in ("posecourse", "posecourse_tools"):
        shutil.copytree(repo_root / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo_root / name, src)
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert wheel.returncode == 0, wheel.stdout[-2000:] + wheel.stderr[-3000:]
    (whl,) = (tmp_path / "dist").glob("posecourse-*.whl")
    files = {name for name in zipfile.ZipFile(whl).namelist() if name.endswith(".py")}
    assert {name.split("/")[0] for name in files} == {"posecourse"}, f"the wheel holds the library only: {files}"
    assert files == {p.relative_to(src).as_posix() for p in (src / "posecourse").rglob("*.py")}, "exactly the sources"
    pip = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(whl)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-3000:]
    code = ("import posecourse, torch\n"
            "from posecourse.lectures import get_lecture\n"
            "from posecourse.train.fit import make_data\n"
            "from posecourse.lectures.shipped import shipped_checkpoint, checkpoint_path\n"
            "lec = get_lecture('03_hourglass')\n"
            "res = shipped_checkpoint(lec, make_data(lec, n_val=32))\n"
            "print(posecourse.__file__)\n"
            "print(checkpoint_path('03_hourglass'))\n"
            "print(res['steps'], res['value'])\n")
    run = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr[-3000:]
    module, ckpt, result = run.stdout.strip().splitlines()[-3:]
    assert module.startswith(str(env_dir)) and ckpt.startswith(str(env_dir)), (module, ckpt)
    steps, value = result.split()
    assert int(steps) == 2_200 and float(value) > 0.85
