"""The lecture notebooks: stored executed, papermill contract, smoke runs under nbval.

``make test`` runs every lecture in smoke mode (seconds of training) through nbval (``--nbval-lax``):
cells marked ``# NBVAL_CHECK_OUTPUT`` (shapes, parameter counts, target values on fixed inputs) must
reproduce their stored outputs exactly; every other cell must run without error. The full runs
(default parameters, accuracy bars) are ``make course``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from paths import ROOT

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


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_slow_laptop_mode_and_no_black_boxes_on_the_page(path):
    """A ``use_shipped`` parameter (default False); the model comes from ``shipped.train_or_load`` (so skipping
    the training leaves the same variables); before it, the record's recipe is printed (``run.plan()``) and the
    training step is shown from the source (``show_training_step()``)."""
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    ns: dict = {}
    exec(cells[0].source, ns)
    assert ns.get("use_shipped") is False, "the parameters cell needs use_shipped = False"
    sources = [c.source for c in cells]
    where = {key: next((i for i, s in enumerate(sources) if key in s), None)
             for key in ("use_shipped=use_shipped", "print(run.plan())", "show_training_step()", "train_or_load(run")}
    assert None not in where.values(), f"{path.name}: missing on the page: {[k for k, v in where.items() if v is None]}"
    assert where["print(run.plan())"] <= where["train_or_load(run"], "the recipe must be printed before training"
    assert not any("F.fit(lec, data, run.steps" in s for s in sources), "the live run must come from train_or_load"


def _listings(nb):
    """``(cell index, metadata, stored data)`` of every source listing stored by ``show_source``."""
    from posecourse.viz.source import SOURCE_KEY

    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            meta = o.get("metadata", {}).get(SOURCE_KEY)
            if meta is not None:
                yield i, meta, o["data"]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_stored_source_listings_equal_the_current_source(path):
    """The page is the code: every listing a stored lecture shows is the current source of what it names, as
    text and as the HTML a reader sees (headed by the line where it lives), so a change to the library, even one
    that only moves the code, fails here until the listings are refreshed (they need no run:
    ``python -m posecourse_tools.course --refresh-listings --only NN``) or the lecture is re-executed
    (``python -m posecourse_tools.course --inplace --only NN``)."""
    from posecourse.viz.source import TRAINING_STEP, resolve, source_html, source_text

    nb = nbformat.read(path, as_version=4)
    stale = []
    for i, meta, stored in _listings(nb):
        shown = resolve(meta["object"]), meta.get("start"), meta.get("stop")
        if stored.get("text/plain") != source_text(*shown):
            stale.append(f"cell {i}: {meta['object']} (code)")
        elif stored.get("text/html") != source_html(*shown):
            stale.append(f"cell {i}: {meta['object']} (HTML: the line it names, or its rendering)")
    assert not stale, (f"{path.name} shows stale source {stale}: refresh its listings with `python -m "
                       f"posecourse_tools.course --refresh-listings --only {path.stem[:2]}` (executes nothing), "
                       "or re-execute it with --inplace")
    # every listing names what it shows
    calls = sum(c.source.count("show_source(") + len(TRAINING_STEP) * c.source.count("show_training_step()")
                for c in nb.cells if c.cell_type == "code")
    assert len(list(_listings(nb))) == calls, f"{path.name}: listings stored without what they show"


#: run numbers as the lectures print them: a 3-decimal metric (0.699, +0.115), a signed decimal (+0.03, -1.5),
#: a percentage with decimals (98.5%)
RUN_NUMBER = re.compile(r"(?<![\w.])[+\-−±]?0\.\d{3,}(?!\d)|(?<![\w.])\d+\.\d+\s?%|(?<![\w.])[+\-−±]\d+\.\d+(?![\w.])")
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d{2,}(?![\w.])")


def _printed(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        elif "text/plain" in o.get("data", {}) and "text/html" not in o["data"]:
            out.append(o["data"]["text/plain"])
    return "\n".join(out)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_no_hand_typed_run_numbers_in_the_text(path):
    """Numbers about a run live in outputs (printed, or f-string Markdown), never typed into the text, where
    they go stale on the next run or another CPU. Flagged in markdown: a metric-like 0.ddd, a signed decimal,
    a decimal percentage, and any decimal with 2+ places that a machine-dependent output of the notebook
    prints (outputs of ``# NBVAL_CHECK_OUTPUT`` cells are exact on every machine and may be quoted)."""
    nb = nbformat.read(path, as_version=4)
    printed = set()
    for c in _code_cells(nb):
        if not c.source.startswith("# NBVAL_CHECK_OUTPUT"):
            printed |= set(DECIMAL.findall(_printed(c))) - set(DECIMAL.findall(c.source))
    found = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            # equations and `code` (literals of the library) are not results
            text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$|`[^`\n]*`", " ", c.source, flags=re.S)
            hits = RUN_NUMBER.findall(text) + [n for n in DECIMAL.findall(text) if n in printed]
            found += [f"cell {i}: {h.strip()}" for h in hits]
    assert not found, f"{path.name}: run numbers typed into the text (print them from the results): {found}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_progress_bars_stored_as_their_final_line(path):
    """Printed text is stored as a reader sees it: one stream output per run of prints, no carriage-return
    redraws (a tqdm bar's dozens of fragments), so the JSON, its diffs and static viewers show one line."""
    nb = nbformat.read(path, as_version=4)
    for i, c in enumerate(nb.cells):
        outs = c.get("outputs", [])
        for a, b in zip(outs, outs[1:]):
            assert not (a.get("output_type") == b.get("output_type") == "stream" and a.get("name") == b.get("name")), \
                f"{path.name}: cell {i} stores its printed text in fragments"
        for o in outs:
            assert "\r" not in o.get("text", ""), f"{path.name}: cell {i} stores a progress bar's redraws"


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_end_to_end_on_the_shipped_checkpoint(path, tmp_path):
    """The slow-laptop mode: with ``use_shipped=True`` (and ``smoke`` for the side experiments) nothing is
    trained for the headline, every cell runs, and the headline metric is the shipped checkpoint's."""
    import papermill as pm

    from posecourse.train.fit import make_data
    from posecourse.lectures import get_lecture
    from posecourse.lectures.shipped import shipped_checkpoint

    res = tmp_path / f"{path.stem}.json"
    pm.execute_notebook(str(path), str(tmp_path / path.name), kernel_name="python3", cwd=str(path.parent),
                        parameters={"use_shipped": "True", "smoke": "True", "results_path": str(res)},
                        progress_bar=False)
    data = json.loads(res.read_text())
    lec = get_lecture(path.stem)
    assert data["value"] == pytest.approx(shipped_checkpoint(lec, make_data(lec))["value"], abs=1e-9)
    assert data["steps"] == lec.checkpoint_steps and data.get("use_shipped") is True


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
