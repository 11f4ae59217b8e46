"""The grader's trust model, end to end: release with nbgrader, honest and hostile submissions, autograde (checks in
the grader, student code in sandboxed workers), gradebook, feedback, CSV export. Plus the wire format's strictness
and the refusal to grade without isolation (these two run everywhere)."""
from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from posecourse_tools import grading
from posecourse_tools.grading import session, wire

FIXTURES = Path(__file__).parent / "grading_fixtures"
NOTEBOOK = "ex01_deeppose.ipynb"
FULL = 8.0          # ex01: test_normalize 2 + test_cascade 3 + test_pdj 3
CHEATS = ["hardcoded_visible", "ipython_hooks", "patch_numpy_torch", "tamper_worker", "always_true_objects",
          "nan_values", "faked_outputs", "forged_protocol", "read_proc", "write_outside", "network"]
DOS = ["raises", "infinite_loop", "kill_kernel", "sys_exit", "print_100mb", "memory_bomb", "hang_in_call",
       "stop_self", "setsid_sleeper", "signal_grader", "flood_protocol", "malformed_notebook", "symlinks"]


# ------------------------------------------------------------------ helpers
def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _release(course: Path, notebooks: list[str]) -> None:
    (course / "source" / "ps1").mkdir(parents=True)
    for name in notebooks:
        shutil.copy(Path(__file__).parents[1] / "solutions" / name, course / "source" / "ps1" / name)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1", "--force", "--create",
                    f"--CourseDirectory.root={course}", "--log-level=ERROR"], cwd=course, check=True,
                   capture_output=True, env=grading.tool_env())


def _submit(course: Path, student: str, variant: str, subs: dict[str, str], name: str = NOTEBOOK) -> None:
    folder = course / "submitted" / student / "ps1"
    if variant == "symlinks":          # the notebook is /dev/zero, a data file is the gradebook
        folder.mkdir(parents=True)
        (folder / name).symlink_to("/dev/zero")
        (folder / "data.db").symlink_to(course / "gradebook.db")
        return
    if (FIXTURES / f"{variant}.json").exists():     # a raw, malformed notebook
        folder.mkdir(parents=True)
        text = (FIXTURES / f"{variant}.json").read_text()
        (folder / name).write_text(text.replace("{COURSE}", subs.get("{COURSE}", "")))
        return
    nb = nbformat.read(course / "release" / "ps1" / name, as_version=4)
    if variant == "correct":
        solutions = nbformat.read(course / "source" / "ps1" / name, as_version=4)
        replace = {c.metadata["nbgrader"]["grade_id"]: re.sub(r"\s*### (BEGIN|END) SOLUTION", "", c.source)
                   for c in solutions.cells if c.metadata.get("nbgrader", {}).get("solution")}
    else:
        text = (FIXTURES / f"{variant}.py").read_text()
        for key, value in subs.items():
            text = text.replace(key, value)
        parts = re.split(r"^# cell: (\+?\w+)\n", text, flags=re.M)
        replace = dict(zip(parts[1::2], parts[2::2]))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in replace:
            cell.source = replace.pop(gid)
    nb.cells += [nbformat.v4.new_code_cell(src) for key, src in replace.items() if key.startswith("+")]
    (course / "submitted" / student / "ps1").mkdir(parents=True)
    nbformat.write(nb, course / "submitted" / student / "ps1" / name)


def _worker_processes() -> list[str]:
    """Processes still alive anywhere on the machine that run as a uid this process's workers used (another grading
    running beside this one has workers of its own: they are not ours)."""
    left = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        uid = re.search(r"^Uid:\s+(\d+)", text, re.M)
        if uid and int(uid.group(1)) in session.USED_UIDS:
            left.append(text.splitlines()[0])
    return left


# ------------------------------------------------------------------ the wire format (no isolation needed)
numeric = hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_]),
                     hnp.array_shapes(min_dims=0, max_dims=4, max_side=5))


@settings(max_examples=60, deadline=None)
@given(numeric)
def test_wire_round_trips_numeric_arrays_exactly(a):
    import json
    back = wire.decode(json.loads(wire.dumps(wire.encode(a))))
    assert isinstance(back, np.ndarray) and back.dtype == a.dtype and back.shape == a.shape
    assert np.array_equal(back, a, equal_nan=a.dtype.kind == "f")


@settings(max_examples=40, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-2 ** 62, 2 ** 62) | st.floats(),
                    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=20))
def test_wire_round_trips_plain_values(value):
    import json
    back = wire.decode(json.loads(wire.dumps(wire.encode(value))))
    assert repr(back) == repr(value)   # same types and values, NaN included


class _Yes:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [_Yes(), np.array([_Yes()], dtype=object), "1.0", b"x", np.array([1 + 2j]),
                                   {1: 2.0}, 2 ** 70, lambda: 0])
def test_wire_refuses_what_is_not_numeric_data(value):
    with pytest.raises(wire.WireError):
        wire.encode(value)


@pytest.mark.parametrize("data, problem", [
    ({"nd": {"dtype": "|O", "shape": [1], "b64": "AAAAAAAAAAA="}}, "dtype"),
    ({"nd": {"dtype": "<f8", "shape": [2], "b64": "AAAAAAAAAAA="}}, "bytes"),
    ({"nd": {"dtype": "<f8", "shape": [-1], "b64": ""}}, "shape"),
    ({"nd": {"dtype": "<f8", "shape": [10 ** 9], "b64": ""}}, "shape"),
    ({"nd": {"dtype": "|b1", "shape": [1], "b64": "Ag=="}}, "booleans"),
    ("1.0", "unexpected str"), ({"d": {"k": 1}, "t": []}, "unexpected dict"), ({"eq": True}, "tag"),
    ({"ref": "normalize"}, "tag"), (2 ** 64, "range"), ([[[[[[[[[[[[[[1]]]]]]]]]]]]]], "nested"),
    ([0.0] * (wire.MAX_ELEMENTS + 1), "more than"),
])
def test_wire_decode_is_strict(data, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.decode(data)


def test_library_import_stays_light():
    code = ("import sys, posecourse; bad = [m for m in ('nbformat', 'nbgrader', 'papermill', 'nbclient') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, f"`import posecourse` imports notebook tooling: {run.stdout} {run.stderr[-500:]}"
    worker_side = "posecourse_tools.grading.worker, posecourse_tools.grading.sandbox, posecourse_tools.grading.wire"
    code = code.replace("posecourse;", f"posecourse_tools.grading, {worker_side};")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, f"the worker-side modules import notebook tooling: {run.stdout} {run.stderr[-500:]}"


# ------------------------------------------------------------------ the protocol under a hostile worker
STOP_READING = """
import os, signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
def f(x):
    for fd in range(3, 32):          # answer request 1 by hand on the channel, then never read again
        try:
            os.write(fd, b'{"id": 1, "ok": 0}\\n')
        except OSError:
            pass
    while True:
        time.sleep(1)
"""


def test_a_worker_that_stops_reading_cannot_hang_the_grader(tmp_path):
    isolated = grading.isolation_problem() is None
    worker = session.Worker(tmp_path / "course", None, isolated=isolated)
    try:
        assert worker.run_cells([("c", STOP_READING)], cell_timeout=30, deadline=time.monotonic() + 60) == {}
        assert worker.call("f", [1], {}, {}, timeout=10, deadline=time.monotonic() + 60) == 0   # the forged reply
        start = time.monotonic()
        with pytest.raises(session.WorkerFailed, match="while sending"):
            worker.call("f", [np.zeros(500_000)], {}, {}, timeout=3, deadline=time.monotonic() + 60)
        assert time.monotonic() - start < session.wall_limit(3) + 5
    finally:
        worker.close()
    assert worker.proc.poll() is not None


# ------------------------------------------------------------------ ex02 (torch): refusal, unsafe mode, torch cheats
@pytest.fixture(scope="module")
def torch_course(tmp_path_factory):
    """ex02_cpm with the reference, the released stub and a submission patching torch."""
    course, name = tmp_path_factory.mktemp("torch") / "course", "ex02_cpm.ipynb"
    _release(course, [name])
    _submit(course, "correct", "correct", {}, name=name)
    _submit(course, "torch_patches", "torch_patches", {}, name=name)
    (course / "submitted" / "stub" / "ps1").mkdir(parents=True)
    shutil.copy(course / "release" / "ps1" / name, course / "submitted" / "stub" / "ps1" / name)
    return course


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_refuses_to_grade_without_isolation(torch_course, monkeypatch, capsys):
    from posecourse_tools.grading.__main__ import main
    before = _listing(torch_course)
    monkeypatch.setattr(session, "UNSHARE", "/nonexistent/unshare")
    with pytest.raises(grading.IsolationError, match="unsafe-no-isolation"):
        grading.autograde(torch_course, "ps1")
    assert main(["autograde", str(torch_course), "ps1"]) == 2
    assert "refusing to grade" in capsys.readouterr().err
    assert _listing(torch_course) == before, "nothing may be graded when isolation fails"


@pytest.mark.slow
def test_unsafe_mode_grades_when_asked_explicitly(torch_course, monkeypatch, tmp_path):
    monkeypatch.setattr(session, "UNSHARE", "/nonexistent/unshare")
    status = grading.autograde(torch_course, "ps1", students=["correct"], cell_timeout=60, wall_timeout=240,
                               unsafe_no_isolation=True, log=lambda s: None)
    rows = {r["student_id"]: r for r in grading.export(torch_course, tmp_path / "grades.csv")}
    assert status == {"correct": "ok"} and float(rows["correct"]["raw_score"]) == 5.0, (status, rows)


@pytest.mark.slow
def test_torch_patches_do_not_beat_the_stub(torch_course, tmp_path):
    """A submission patching torch (comparisons, Tensor methods, autograd) and returning lying tensors or a float
    posing as a tensor scores no more than the released stub."""
    problem = grading.isolation_problem()
    if problem:
        pytest.skip(f"sandbox unavailable here: {problem}")
    status = grading.autograde(torch_course, "ps1", cell_timeout=60, wall_timeout=240, log=lambda s: None)
    scores = {r["student_id"]: float(r["raw_score"]) for r in grading.export(torch_course, tmp_path / "grades.csv")}
    assert scores["correct"] == 5.0 and scores["stub"] == 0.0, (scores, status)
    assert scores["torch_patches"] <= scores["stub"], (scores, status)


# ------------------------------------------------------------------ adversarial submissions (isolation needed)
@pytest.fixture(scope="module")
def graded(tmp_path_factory, repo_root):
    problem = grading.isolation_problem()
    if problem:
        pytest.skip(f"sandbox unavailable here, adversarial grading not run: {problem}")
    tmp = tmp_path_factory.mktemp("grading")
    course, sentinel = tmp / "course", tmp / "sentinel"
    (sentinel / "sub").mkdir(parents=True)
    (sentinel / "keep.txt").write_text("do not touch")
    before = _snapshot(sentinel)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    _release(course, [NOTEBOOK])
    subs = {"{COURSE}": str(course), "{SENTINEL}": str(sentinel), "{REPO}": str(repo_root),
            "{PORT}": str(listener.getsockname()[1])}
    for variant in ["correct", "partial", "honest_wrong", *CHEATS, *DOS]:
        _submit(course, variant, variant, subs)
    for variant in DOS:
        _submit(course, f"{variant}_zz_correct", "correct", subs)
    start = time.monotonic()
    status = grading.autograde(course, "ps1", cell_timeout=4, wall_timeout=40, max_restarts=1, log=lambda s: None)
    elapsed = time.monotonic() - start
    time.sleep(1)
    leftovers = _worker_processes()
    try:
        connections = [listener.accept()]
    except BlockingIOError:
        connections = []
    listener.close()
    rows = grading.export(course, tmp / "grades.csv")
    scores = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == "ps1"}
    return dict(course=course, sentinel=sentinel, before=before, status=status, scores=scores, elapsed=elapsed,
                tmp=tmp, leftovers=leftovers, connections=connections, repo=repo_root)


pytestmark_slow = pytest.mark.slow


@pytestmark_slow
def test_every_student_is_graded_in_bounded_time(graded):
    expected = {"correct", "partial", "honest_wrong", *CHEATS, *DOS, *(f"{v}_zz_correct" for v in DOS)}
    assert set(graded["scores"]) == expected, graded["scores"]
    assert graded["elapsed"] < 40 * len(expected), graded["elapsed"]


@pytestmark_slow
def test_reference_scores_full_and_partial_scores_part(graded):
    assert graded["scores"]["correct"] == FULL, graded["status"]["correct"]
    assert graded["scores"]["partial"] == 2.0, graded["status"]["partial"]
    assert graded["scores"]["honest_wrong"] < FULL


@pytestmark_slow
@pytest.mark.parametrize("variant", CHEATS + DOS)
def test_no_cheat_beats_an_honest_wrong_answer(graded, variant):
    assert graded["scores"][variant] <= graded["scores"]["honest_wrong"], (variant, graded["status"][variant])


@pytestmark_slow
@pytest.mark.parametrize("variant", DOS)
def test_the_next_student_keeps_full_marks(graded, variant):
    after = f"{variant}_zz_correct"
    assert graded["scores"][after] == FULL, (after, graded["status"][after])
    assert graded["status"][after] == "ok"


@pytestmark_slow
def test_failures_are_reported(graded):
    for variant in ("infinite_loop", "kill_kernel", "hang_in_call", "stop_self", "flood_protocol", "symlinks"):
        assert graded["status"][variant].startswith("error"), (variant, graded["status"][variant])


@pytestmark_slow
def test_no_worker_process_outlives_grading(graded):
    assert graded["leftovers"] == [], graded["leftovers"]


@pytestmark_slow
def test_nothing_outside_the_sandbox_changes(graded):
    assert _snapshot(graded["sentinel"]) == graded["before"]
    course = graded["course"]
    pwned = [course / "pwned.txt", course.parent / "pwned_abs.txt", Path("/tmp/pwned_posecourse.txt"),
             graded["repo"] / "pwned.txt"]
    assert not any(p.exists() for p in pwned), [p for p in pwned if p.exists()]
    assert (course / "gradebook.db").read_bytes()[:15] == b"SQLite format 3"
    assert graded["connections"] == [], "a worker reached the host's network"


@pytestmark_slow
def test_hidden_tests_gradebook_and_grader_are_invisible(graded):
    nb = nbformat.read(graded["course"] / "autograded" / "read_proc" / "ps1" / NOTEBOOK, as_version=4)
    notes = "\n".join(c.source for c in nb.cells if "Grader notes" in c.source)
    report = re.search(r"LEAKS: pids=\[([\d, ]*)\] uid=(\d+) found=(\[.*?\])", notes)
    assert report, f"the probe's report is missing from the grader notes:\n{notes[:2000]}"
    pids, uid, found = report.groups()
    assert found == "[]", found
    assert int(uid) in session.WORKER_UIDS, f"the worker runs as uid {uid}"
    assert all(int(p) < 20 for p in pids.split(",") if p.strip()), f"the worker sees other processes: {pids}"


@pytestmark_slow
def test_feedback_is_generated_from_the_grader_verdicts(graded):
    course = graded["course"]
    grading.feedback(course, "ps1", students=["correct", "faked_outputs"])
    assert sorted(p.name for p in (course / "feedback").iterdir()) == ["correct", "faked_outputs"]
    correct = (course / "feedback" / "correct" / "ps1" / "ex01_deeppose.html").read_text()
    faked = (course / "feedback" / "faked_outputs" / "ps1" / "ex01_deeppose.html").read_text()
    assert f"Score: {FULL} / {FULL}" in correct
    assert f"Score: 0.0 / {FULL}" in faked and "expected" in faked   # the failing check's message reaches the student
    assert "hidden tests: run by the grader" in faked
    assert "default_rng(SEED)" not in faked and "HIDDEN TESTS" not in faked, "feedback shows the hidden tests' source"
