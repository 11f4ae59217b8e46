"""The lecture notebooks: stored executed, papermill contract, smoke runs under nbval.

``make test`` runs every lecture in smoke mode (seconds of training) through nbval (``--nbval-lax``):
cells marked ``# NBVAL_CHECK_OUTPUT`` (shapes, parameter counts, target values on fixed inputs) must
reproduce their stored outputs exactly; every other cell must run without error. The full runs
(default parameters, accuracy bars) are ``make course``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("0*.ipynb"))
REQUIRED = {"seed", "train_steps", "device", "smoke", "results_path"}


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_every_lecture_record_has_its_notebook():
    from posecourse.lectures import LECTURES as RECORDS

    assert [p.stem for p in LECTURES] == list(RECORDS)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = _code_cells(nb)[0]
    assert "parameters" in first.metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    names = {line.split("=")[0].strip() for line in first.source.splitlines() if "=" in line and not line.startswith("#")}
    assert REQUIRED <= names, f"missing parameters: {REQUIRED - names}"
    ns: dict = {}
    exec(first.source, ns)  # literals only (papermill injects overrides after this cell)
    assert ns["device"] == "auto" and ns["smoke"] is False and ns["results_path"] is None
    assert ns["train_steps"] is None, "the default budget is the lecture record's steps (posecourse.lectures)"
    assert not any("seconds" in n for n in names), "budgets are optimizer steps, never seconds"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_stored_executed(path):
    """Stored with outputs, in order, without errors, so a student sees what to expect."""
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    counts = [c.execution_count for c in cells]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: not stored executed (execution counts {counts})"
    assert counts == sorted(counts), f"{path.name}: cells were not run top to bottom"
    for c in cells:
        assert not any(o.get("output_type") == "error" for o in c.outputs), f"{path.name}: stored error output"
    checked = [c for c in cells if c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked and all(c.outputs for c in checked), f"{path.name}: needs exact-checked cells with outputs"


MAX_STORED_BYTES = 1_000_000  #: a stored lecture, outputs included


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_stored_outputs_are_clean(path):
    """Small enough to open and diff, every figure stored once, progress bars as finished text (no widgets)."""
    import hashlib

    assert path.stat().st_size <= MAX_STORED_BYTES, f"{path.name}: {path.stat().st_size:,} bytes stored"
    nb = nbformat.read(path, as_version=4)
    seen: dict[str, int] = {}
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            png = o.get("data", {}).get("image/png") or o.get("data", {}).get("image/jpeg")
            if png and "application/vnd.jupyter.widget-view+json" not in o.get("data", {}):
                digest = hashlib.sha1(png.encode()).hexdigest()
                assert digest not in seen, f"{path.name}: cell {i} stores the figure of cell {seen[digest]} again"
                seen[digest] = i
    models = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    progress = [k for k, m in models.items() if m.get("model_name") in ("FloatProgressModel", "IntProgressModel")]
    assert not progress, f"{path.name}: stored progress-bar widgets {progress[:3]} (tqdm should print text)"


@pytest.mark.slow
@pytest.mark.notebooks
def test_lectures_smoke_under_nbval(tmp_path):
    """Each lecture with ``smoke=True`` under ``pytest --nbval-lax``; each writes its results JSON."""
    import papermill as pm

    copies, results = [], {}
    for path in LECTURES:
        res = tmp_path / f"{path.stem}.json"
        out = tmp_path / path.name
        pm.execute_notebook(str(path), str(out), parameters={"smoke": True, "results_path": str(res)},
                            prepare_only=True, kernel_name="python3")
        copies.append(str(out))
        results[path.stem] = res
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
           "--nbval-cell-timeout=120", "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
           "-o", "addopts=", "--rootdir", str(tmp_path), *copies]
    proc = subprocess.run(cmd, cwd=ROOT / "lectures", env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    for stem, res in results.items():
        assert res.exists(), f"{stem} wrote no results JSON"
        data = json.loads(res.read_text())
        assert data["lecture"] == stem and isinstance(data["value"], float) and data["train_seconds"] > 0
        assert set(data) >= {"lecture", "metric", "value", "train_seconds"}
