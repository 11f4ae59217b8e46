"""The exercise notebooks: exercises/ is exactly what nbgrader generates from solutions/, solutions score full
marks (in a kernel, as a student runs them, and through the grader), released student versions score zero on every
graded cell, every hidden check has a message, and the five notebooks state the same conventions."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from posecourse.lectures import LECTURES
from posecourse_tools import grading

#: The exercise notebooks' names, read from the lecture records (one place: ``Lecture.exercise``).
EXERCISES = sorted(lec.exercise for lec in LECTURES.values())


def test_one_exercise_per_lecture(repo_root):
    assert sorted(p.stem for p in (repo_root / "solutions").glob("*.ipynb")) == EXERCISES
    assert sorted(p.stem for p in (repo_root / "exercises").glob("*.ipynb")) == EXERCISES


@pytest.mark.parametrize("name", EXERCISES)
def test_solution_format(repo_root, name):
    nb = nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    graded = [m for m in meta if m.get("grade")]
    assert graded and all(m["points"] > 0 and m["locked"] for m in graded)
    ids = [m["grade_id"] for m in meta if m]
    assert len(ids) == len(set(ids)), "grade_id must be unique"
    for cell, m in zip(nb.cells, meta):
        if m.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if m.get("grade"):
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{m['grade_id']} has no hidden tests"
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert re.search(r"\bassert\b|\bexpect(_\w+)?\(", visible), f"{m['grade_id']} has no visible test"


@pytest.mark.parametrize("name", EXERCISES)
def test_every_check_has_a_message_a_student_can_act_on(repo_root, name):
    nb = nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            source = re.sub(r"### (BEGIN|END) HIDDEN TESTS", "", cell.source)
            bare = [ast.unparse(node) for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.Assert) and node.msg is None]
            assert not bare, f"{name}/{cell.metadata.nbgrader.grade_id}: asserts without a message: {bare}"


def _solution_namespace(repo_root, name: str) -> dict:
    """The reference solution's setup and solution cells executed (trusted code: the instructor's)."""
    ns: dict = {}
    for cell in nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("grade"):
            exec(re.sub(r"\s*### (BEGIN|END) SOLUTION", "", cell.source), ns)
    return ns


def test_solutions_agree_with_the_library(repo_root):
    """What students write is what the library computes (same conventions), on random inputs."""
    import numpy as np
    import torch
    from posecourse import geometry, metrics
    from posecourse.targets import regression
    rng = np.random.default_rng(0)
    ex01 = _solution_namespace(repo_root, "ex01_deeppose")
    y, x, box = rng.uniform(0, 200, (9, 2)), rng.uniform(0, 200, (9, 2)), np.array([10.0, 20.0, 80.0, 160.0])
    assert np.allclose(ex01["normalize"](y, box), geometry.normalize(torch.tensor(y), torch.tensor(box)).numpy())
    boxes, target = ex01["cascade_target"](y, x, torso=(2, 5), sigma=0.7)
    lib_boxes = regression.cascade_boxes(torch.tensor(x), 0.7, torso=(2, 5)).numpy()
    assert np.allclose(boxes, lib_boxes)
    assert np.allclose(target, regression.encode_displacement(torch.tensor(y), torch.tensor(x), lib_boxes).numpy())
    assert np.allclose(ex01["refine"](x, target, boxes),
                       regression.decode_displacement(torch.tensor(target), torch.tensor(x), lib_boxes).numpy())
    ex03 = _solution_namespace(repo_root, "ex03_hourglass")
    gt = rng.uniform(0, 50, (6, 4, 2)); pred = gt + rng.normal(0, 3, gt.shape); vis = rng.integers(0, 3, (6, 4))
    vis[:, 0] = 2
    head = np.concatenate([rng.uniform(0, 50, (6, 2)), rng.uniform(5, 15, (6, 2))], axis=1)   # (x0, y0, w, h)
    corners = np.concatenate([head[:, :2], head[:, :2] + head[:, 2:]], axis=1)                  # MPII's (x1, y1, x2, y2)
    lib = metrics.pckh(pred, gt, vis, corners, alpha=0.5, skeleton=None, joints=None).per_joint
    assert np.allclose(ex03["pckh"](pred, gt, vis, head, alpha=0.5), lib, equal_nan=True)
    ex05 = _solution_namespace(repo_root, "ex05_hrnet")
    sig = np.asarray(metrics.COCO_SIGMAS, dtype=float)
    gt = rng.uniform(0, 100, (17, 2)); pred = gt + rng.normal(0, 4, (17, 2)); vis = rng.integers(0, 3, 17); vis[3] = 2
    assert np.isclose(ex05["oks"](pred, gt, vis, 1800.0, sig), float(metrics.oks(pred, gt, vis, 1800.0, sig)))


def test_receptive_fields_agree_with_the_library(repo_root):
    """ex02's stage_receptive_fields, given the layer lists of the library's CPMs, gives CPM.receptive_fields()."""
    from torch import nn

    from posecourse.models import create_model
    ex02 = _solution_namespace(repo_root, "ex02_cpm")

    def layers(modules):
        out = []
        for m in modules:
            if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                k, s = m.kernel_size, m.stride
                out.append((k[0] if isinstance(k, tuple) else k, s[0] if isinstance(s, tuple) else s))
        return out
    for name in ("cpm_tiny", "cpm"):
        model = create_model(name, num_joints=14)
        got = ex02["stage_receptive_fields"](layers(model.stage1.modules()),
                                             layers(model.features.modules()) + layers(model.x_heads[0].modules()),
                                             layers(model.stages[0].modules()), model.num_stages)
        assert got == model.receptive_fields(), (name, got, model.receptive_fields())


def test_one_convention_across_the_exercises(repo_root):
    intros = []
    for name in EXERCISES:
        nb = nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4)
        intro = nb.cells[0].source
        assert "**Conventions" in intro, f"{name}: the first cell must state the conventions"
        intros.append(intro[intro.index("**Conventions"):])
    assert len(set(intros)) == 1, "the conventions block differs between exercises"
    for phrase in ("`(x, y)`", "`(B, K, H, W)`", "`v > 0`", "`(x0, y0, w, h)`"):
        assert phrase in intros[0], f"the conventions block should state {phrase}"


def test_exercises_are_not_stale(repo_root, tmp_path):
    fresh = grading.generate(repo_root / "solutions", tmp_path)
    for path in fresh:
        committed = repo_root / "exercises" / path.name
        assert committed.exists(), f"{path.name} missing from exercises/: run `make exercises`"
        assert grading.cell_signature(committed) == grading.cell_signature(path), \
            f"exercises/{path.name} is stale: run `make exercises`"


@pytest.mark.parametrize("name", EXERCISES)
def test_student_version_has_no_solution_or_hidden_test(repo_root, name):
    text = (repo_root / "exercises" / f"{name}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text


@pytest.mark.slow
def test_grader_gives_the_solutions_full_marks(repo_root, tmp_path):
    """All five notebooks through the grader (checks in the grader, code in a worker): every test cell, visible and
    hidden parts, works on plain data. The solutions are trusted code, so where no sandbox is available this runs
    the worker unisolated, as --unsafe-no-isolation does. (Stubs scoring 0 through the grader: test_grading.py.)"""
    course = tmp_path / "course"
    (course / "source" / "ps").mkdir(parents=True)
    for name in EXERCISES:
        shutil.copy(repo_root / "solutions" / f"{name}.ipynb", course / "source" / "ps")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps", "--force", "--create",
                    f"--CourseDirectory.root={course}", "--log-level=ERROR"], cwd=course, check=True,
                   capture_output=True, env=grading.tool_env())
    (course / "submitted" / "solution" / "ps").mkdir(parents=True)
    for name in EXERCISES:
        nb = nbformat.read(course / "source" / "ps" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            cell.source = re.sub(r"\s*### (BEGIN|END) SOLUTION", "", cell.source)
        nbformat.write(nb, course / "submitted" / "solution" / "ps" / f"{name}.ipynb")
    unsafe = grading.isolation_problem() is not None
    status = grading.autograde(course, "ps", cell_timeout=60, wall_timeout=600, unsafe_no_isolation=unsafe,
                               log=lambda line: None)
    row = grading.export(course, tmp_path / "grades.csv")[0]
    points = sum(c.metadata["nbgrader"]["points"] for name in EXERCISES
                 for c in nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("grade"))
    assert status == {"solution": "ok"}, status
    assert float(row["raw_score"]) == float(row["max_score"]) == points == 48, row


@pytest.mark.slow
@pytest.mark.parametrize("name", EXERCISES)
def test_solution_scores_full_and_release_scores_zero(repo_root, name):
    assert grading.validate(repo_root / "solutions" / f"{name}.ipynb"), f"solutions/{name} fails a test"
    assert grading.validate(repo_root / "exercises" / f"{name}.ipynb", invert=True), \
        f"exercises/{name}: some graded cell passes with the stubs"


def _harness(repo_root, name: str) -> dict:
    """The notebook's imports and locked harness cell, executed (instructor code: what the grader runs)."""
    ns: dict = {}
    for cell in nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in ("imports", "harness"):
            exec(cell.source, ns)
    return ns


@pytest.mark.parametrize("got, want", [
    ("np.zeros((0, 2))", "np.zeros((3, 2))"), ("np.zeros((1, 2))", "np.zeros((3, 2))"),      # empty, broadcast
    ("np.zeros(1)", "np.zeros(3)"), ("[0.0, 0.0]", "np.zeros(2)"), ("np.array(1.0)", "1.0"),
    ("np.zeros(2, dtype=int)", "np.zeros(2)"), ("torch.zeros(2, dtype=torch.float64)", "np.zeros(2)"),
    ("np.zeros(2)", "torch.zeros(2)"), ("torch.empty(0, 1, 1, 1, 1)", "torch.zeros(2, 8, 5, 7)"),
    ("np.array([np.nan, 1.0])", "np.array([0.0, 1.0])"), ("np.array([0.0, 1.0])", "np.array([np.nan, 1.0])"),
    ("(x for x in ())", "np.zeros(0)"), ("True", "1.0"), ("np.zeros((2, 3))", "np.zeros((3, 2))"),
])
def test_the_strict_check_refuses_what_loose_comparisons_accept(repo_root, got, want):
    ns = _harness(repo_root, "ex03_hourglass")
    with pytest.raises(AssertionError):
        ns["expect"](eval(got, ns), eval(want, ns), "the check")


def test_the_strict_check_accepts_equal_results(repo_root):
    ns = _harness(repo_root, "ex03_hourglass")
    np_, torch_ = ns["np"], ns["torch"]
    ns["expect"](np_.array([1.0, np_.nan]), np_.array([1.0, np_.nan]), "NaN where expected")
    ns["expect"](torch_.ones(2, 3, dtype=torch_.float32), torch_.ones(2, 3, dtype=torch_.float64), "float kinds")
    ns["expect"](1.0 + 1e-12, 1.0, "a float")


def test_grouped_state_gives_equal_layers_equal_weights_whatever_their_names(repo_root):
    """The hidden module tests rely on it: the student's module and the reference, named differently, compute the
    same function when both get grouped_state(., seed)."""
    ns = _harness(repo_root, "ex03_hourglass")
    torch_, nn = ns["torch"], ns["torch"].nn
    a = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()

    class B(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.norm, self.last = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1)

        def forward(self, x):
            return self.last(torch_.relu(self.norm(self.first(x))))
    b = B().eval()
    a.load_state_dict(ns["grouped_state"](a, 7)); b.load_state_dict(ns["grouped_state"](b, 7))
    x = torch_.randn(2, 3, 5, 6)
    assert torch_.allclose(a(x), b(x)), "equal layers under other names should compute the same"
    b.load_state_dict(ns["grouped_state"](b, 8))
    assert not torch_.allclose(a(x), b(x)), "another seed should give other weights"


@pytest.mark.parametrize("name", EXERCISES)
def test_solutions_pass_their_hidden_tests_for_any_seed(repo_root, name):
    """Hidden inputs change with every grading run: the reference passes every test cell, visible and hidden
    parts, whatever the seed (trusted code, run in this process)."""
    nb = nbformat.read(repo_root / "solutions" / f"{name}.ipynb", as_version=4)
    for seed in (1, 2 ** 40 + 3, 987654321):
        ns: dict = {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            source = re.sub(r"\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", "", cell.source)
            exec(compile(source, f"<{name}/{gid}>", "exec"), ns)
            if gid == "harness":
                ns["SEED"] = seed
