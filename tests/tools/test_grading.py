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
from paths import ROOT, TESTS

FIXTURES = TESTS / "grading_fixtures"
SEED = 20261207     # the hidden tests' seed of the big grading run (a lookup table of seed 0's answers must fail)
BESIDE = {"a_correct": "correct", "b_infinite_loop": "infinite_loop", "c_correct": "correct",
          "d_memory_bomb": "memory_bomb", "e_correct": "correct"}   # graded at the same time, in another process
NOTEBOOK = "ex01_deeppose.ipynb"
FULL = 8.0          # ex01: test_normalize 2 + test_cascade 3 + test_pdj 3
CHEATS = ["hardcoded_visible", "ipython_hooks", "patch_numpy_torch", "tamper_worker", "always_true_objects",
          "nan_values", "faked_outputs", "forged_protocol", "read_proc", "write_outside", "network",
          "lookup_table", "denormalize_lookup", "empty_and_broadcast", "shadow_modules"]
DOS = ["raises", "infinite_loop", "kill_kernel", "sys_exit", "print_100mb", "memory_bomb", "hang_in_call",
       "stop_self", "setsid_sleeper", "signal_grader", "flood_protocol", "malformed_notebook", "symlinks",
       "lone_surrogate", "far_future_timestamp", "malformed_timestamp", "many_files", "flood_lines"]


# ------------------------------------------------------------------ helpers
def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _release(course: Path, notebooks: list[str]) -> None:
    (course / "source" / "ps1").mkdir(parents=True)
    for name in notebooks:
        shutil.copy(ROOT / "solutions" / name, course / "source" / "ps1" / name)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1", "--force", "--create",
                    f"--CourseDirectory.root={course}", "--log-level=ERROR"], cwd=course, check=True,
                   capture_output=True, env=grading.tool_env())


def _many_files(folder: Path) -> None:
    """140,000 tiny files would take minutes here: 3,000 files, a 600 MB sparse file and a deep chain of folders
    exceed every cap the grader puts on what it copies into the sandbox just as well."""
    for i in range(3000):
        (folder / f"f{i:05d}.txt").write_bytes(b"x")
    with open(folder / "big.bin", "wb") as f:
        f.truncate(600 * 2 ** 20)
    deep = folder
    for i in range(40):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("deep")


def _submit(course: Path, student: str, variant: str, subs: dict[str, str], name: str = NOTEBOOK,
            fixtures: Path = FIXTURES) -> None:
    folder = course / "submitted" / student / "ps1"
    if variant == "symlinks":          # the notebook is /dev/zero, a data file is the gradebook
        folder.mkdir(parents=True)
        (folder / name).symlink_to("/dev/zero")
        (folder / "data.db").symlink_to(course / "gradebook.db")
        return
    if (fixtures / f"{variant}.json").exists():     # a raw, malformed notebook
        folder.mkdir(parents=True)
        text = (fixtures / f"{variant}.json").read_text()
        (folder / name).write_text(text.replace("{COURSE}", subs.get("{COURSE}", "")))
        return
    nb = nbformat.read(course / "release" / "ps1" / name, as_version=4)
    files = {}
    if variant == "correct":
        solutions = nbformat.read(course / "source" / "ps1" / name, as_version=4)
        replace = {c.metadata["nbgrader"]["grade_id"]: re.sub(r"\s*### (BEGIN|END) SOLUTION", "", c.source)
                   for c in solutions.cells if c.metadata.get("nbgrader", {}).get("solution")}
    elif variant == "stub":
        replace = {}
    else:
        text = (fixtures / f"{variant}.py").read_text()
        for key, value in subs.items():
            text = text.replace(key, value)
        text, *file_parts = re.split(r"^# file: (\S+)\n", text, flags=re.M)
        files = dict(zip(file_parts[0::2], file_parts[1::2]))
        parts = re.split(r"^# cell: (\+?\w+)\n", text, flags=re.M)
        replace = dict(zip(parts[1::2], parts[2::2]))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in replace:
            cell.source = replace.pop(gid)
    nb.cells += [(nbformat.v4.new_markdown_cell if key.startswith("+md") else nbformat.v4.new_code_cell)(src)
                 for key, src in replace.items() if key.startswith("+")]
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / name)
    raw = (folder / name).read_text()
    if "@SURROGATE@" in raw:                       # a lone surrogate, as JSON allows it and Python reads it
        (folder / name).write_text(raw.replace("@SURROGATE@", "\\ud800"))
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content.replace("@SURROGATE@", "\udc80").encode("utf-8", "surrogateescape"))
    if variant == "many_files":
        _many_files(folder)


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
    assert status == {"correct": "ok"} and float(rows["correct"]["raw_score"]) == 10.0, (status, rows)


@pytest.mark.slow
def test_torch_patches_do_not_beat_the_stub(torch_course, tmp_path):
    """A submission patching torch (comparisons, Tensor methods, autograd) and returning lying tensors or a float
    posing as a tensor scores no more than the released stub."""
    problem = grading.isolation_problem()
    if problem:
        pytest.skip(f"sandbox unavailable here: {problem}")
    status = grading.autograde(torch_course, "ps1", cell_timeout=60, wall_timeout=240, log=lambda s: None)
    scores = {r["student_id"]: float(r["raw_score"]) for r in grading.export(torch_course, tmp_path / "grades.csv")}
    assert scores["correct"] == 10.0 and scores["stub"] == 0.0, (scores, status)
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
    other = tmp / "other"                      # another grading on the same machine, all the time this one runs
    _release(other, [NOTEBOOK])
    for student, variant in BESIDE.items():
        _submit(other, student, variant, {"{COURSE}": str(other)})
    beside = subprocess.Popen([sys.executable, "-m", "posecourse_tools.grading", "autograde", str(other), "ps1",
                               "--cell-timeout", "4", "--wall-timeout", "40"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=grading.tool_env())
    start = time.monotonic()
    status = grading.autograde(course, "ps1", cell_timeout=4, wall_timeout=40, max_restarts=1, log=lambda s: None,
                               seed=SEED)
    elapsed = time.monotonic() - start
    time.sleep(1)
    leftovers = _worker_processes()
    beside_log = beside.communicate(timeout=900)[0]
    beside_scores = {r["student_id"]: float(r["raw_score"]) for r in grading.export(other, tmp / "other.csv")}
    try:
        connections = [listener.accept()]
    except BlockingIOError:
        connections = []
    listener.close()
    rows = grading.export(course, tmp / "grades.csv")
    scores = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == "ps1"}
    return dict(course=course, sentinel=sentinel, before=before, status=status, scores=scores, elapsed=elapsed,
                tmp=tmp, leftovers=leftovers, connections=connections, repo=repo_root, beside_log=beside_log,
                beside_scores=beside_scores)


@pytest.mark.slow
def test_every_student_is_graded_in_bounded_time(graded):
    expected = {"correct", "partial", "honest_wrong", *CHEATS, *DOS, *(f"{v}_zz_correct" for v in DOS)}
    assert set(graded["scores"]) == expected, graded["scores"]
    assert graded["elapsed"] < 40 * len(expected), graded["elapsed"]


@pytest.mark.slow
def test_reference_scores_full_and_partial_scores_part(graded):
    assert graded["scores"]["correct"] == FULL, graded["status"]["correct"]
    assert graded["scores"]["partial"] == 2.0, graded["status"]["partial"]
    assert graded["scores"]["honest_wrong"] < FULL


@pytest.mark.slow
@pytest.mark.parametrize("variant", CHEATS + DOS)
def test_no_cheat_beats_an_honest_wrong_answer(graded, variant):
    assert graded["scores"][variant] <= graded["scores"]["honest_wrong"], (variant, graded["status"][variant])


@pytest.mark.slow
@pytest.mark.parametrize("variant", DOS)
def test_the_next_student_keeps_full_marks(graded, variant):
    after = f"{variant}_zz_correct"
    assert graded["scores"][after] == FULL, (after, graded["status"][after])
    assert graded["status"][after] == "ok"


@pytest.mark.slow
def test_failures_are_reported(graded):
    for variant in ("infinite_loop", "kill_kernel", "hang_in_call", "stop_self", "flood_protocol", "symlinks"):
        assert graded["status"][variant].startswith("error"), (variant, graded["status"][variant])


@pytest.mark.slow
def test_no_worker_process_outlives_grading(graded):
    assert graded["leftovers"] == [], graded["leftovers"]


@pytest.mark.slow
def test_nothing_outside_the_sandbox_changes(graded):
    assert _snapshot(graded["sentinel"]) == graded["before"]
    course = graded["course"]
    pwned = [course / "pwned.txt", course.parent / "pwned_abs.txt", Path("/tmp/pwned_posecourse.txt"),
             graded["repo"] / "pwned.txt"]
    assert not any(p.exists() for p in pwned), [p for p in pwned if p.exists()]
    assert (course / "gradebook.db").read_bytes()[:15] == b"SQLite format 3"
    assert graded["connections"] == [], "a worker reached the host's network"


@pytest.mark.slow
def test_hidden_tests_gradebook_and_grader_are_invisible(graded):
    nb = nbformat.read(graded["course"] / "autograded" / "read_proc" / "ps1" / NOTEBOOK, as_version=4)
    notes = "\n".join(c.source for c in nb.cells if "Grader notes" in c.source)
    report = re.search(r"LEAKS: pids=\[([\d, ]*)\] uid=(\d+) found=(\[.*?\])", notes)
    assert report, f"the probe's report is missing from the grader notes:\n{notes[:2000]}"
    pids, uid, found = report.groups()
    assert found == "[]", found
    assert int(uid) in session.WORKER_UIDS, f"the worker runs as uid {uid}"
    assert all(int(p) < 20 for p in pids.split(",") if p.strip()), f"the worker sees other processes: {pids}"


@pytest.mark.slow
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


@pytest.mark.slow
def test_another_grading_at_the_same_time_changes_no_grade(graded):
    """A second grading (another process, another course) ran during the whole big run: its correct students keep
    full marks, and (test_no_worker_process_outlives_grading) its workers are not counted as this run's leftovers."""
    scores = graded["beside_scores"]
    assert {s: scores[s] for s in BESIDE if BESIDE[s] == "correct"} == \
        {s: FULL for s in BESIDE if BESIDE[s] == "correct"}, (scores, graded["beside_log"][-3000:])
    assert all(scores[s] == 0.0 for s in BESIDE if BESIDE[s] != "correct"), scores


@pytest.mark.slow
def test_the_seed_is_recorded_for_regrading(graded):
    from nbgrader.api import Gradebook
    course = graded["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        comment = gb.find_comment("normalize", "ex01_deeppose", "ps1", "correct")
        assert comment.auto_comment == f"autograded with seed {SEED}", comment.auto_comment
    nb = nbformat.read(course / "autograded" / "correct" / "ps1" / NOTEBOOK, as_version=4)
    assert nb.metadata["posecourse_grading"] == {"seed": SEED}


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["lone_surrogate", "far_future_timestamp", "malformed_timestamp", "many_files"])
def test_odd_submissions_cost_that_student_alone(graded, variant):
    """Odd characters, timestamps and files: the student is graded (autograded notebook written, a note saying what
    was ignored), scores 0 with the stubs, and the run goes on."""
    nb = nbformat.read(graded["course"] / "autograded" / variant / "ps1" / NOTEBOOK, as_version=4)
    notes = "\n".join(c.source for c in nb.cells if "Grader notes" in c.source)
    expected = {"lone_surrogate": "timestamp.txt ignored", "far_future_timestamp": "timestamp.txt ignored",
                "malformed_timestamp": "timestamp.txt ignored", "many_files": "were not copied"}[variant]
    assert expected in notes or any(expected in str(o) for c in nb.cells for o in c.get("outputs", [])), notes
    assert not graded["status"][variant].startswith("infrastructure"), graded["status"][variant]


# ------------------------------------------------------------------ ex03 (modules, gradients): checks the student cannot shape
EX03 = "ex03_hourglass.ipynb"
EX03_FULL = 14.0    # residual 3 + hourglass 3 + stacked loss 2 + pckh 3 + stacking 3
EX03_CHEATS = ["redefine_harness", "empty_outputs", "generator_forward", "stateful_forward", "loss_empties_list",
               "filled_cheat", "wrong_types"]


@pytest.fixture(scope="module")
def graded_ex03(tmp_path_factory):
    problem = grading.isolation_problem()
    if problem:
        pytest.skip(f"sandbox unavailable here, adversarial grading not run: {problem}")
    tmp = tmp_path_factory.mktemp("ex03")
    course = tmp / "course"
    _release(course, [EX03])
    for student, variant in [("correct", "correct"), ("stub", "stub"), ("honest_wrong", "honest_wrong"),
                             *((v, v) for v in EX03_CHEATS), ("zz_correct", "correct")]:
        _submit(course, student, variant, {}, name=EX03, fixtures=FIXTURES / "ex03")
    status = grading.autograde(course, "ps1", cell_timeout=20, wall_timeout=120, max_restarts=1, log=lambda s: None)
    scores = {r["student_id"]: float(r["raw_score"]) for r in grading.export(course, tmp / "grades.csv")}
    return dict(course=course, status=status, scores=scores)


@pytest.mark.slow
def test_ex03_reference_full_stub_zero(graded_ex03):
    scores, status = graded_ex03["scores"], graded_ex03["status"]
    assert scores["correct"] == scores["zz_correct"] == EX03_FULL, (scores, status)
    assert scores["stub"] == 0.0 and scores["honest_wrong"] < EX03_FULL, (scores, status)


@pytest.mark.slow
@pytest.mark.parametrize("variant", EX03_CHEATS)
def test_ex03_cheats_do_not_beat_an_honest_wrong_answer(graded_ex03, variant):
    scores = graded_ex03["scores"]
    assert scores[variant] <= scores["honest_wrong"], (variant, scores, graded_ex03["status"][variant])


# ------------------------------------------------------------------ nbgrader's policies, infrastructure failures
def _small_course(tmp_path: Path, students: dict[str, str]) -> Path:
    course = tmp_path / "course"
    _release(course, [NOTEBOOK])
    for student, variant in students.items():
        _submit(course, student, variant, {})
    return course


@pytest.mark.slow
def test_nbgrader_late_penalty_applies_as_in_stock_nbgrader(tmp_path):
    """The course's nbgrader_config.py (LateSubmissionPlugin.penalty_method = 'zero') and the assignment's due date
    in the gradebook: a late correct submission scores 0 (raw score kept, penalty = score), an on-time one full."""
    from datetime import datetime

    from nbgrader.api import Gradebook
    course = _small_course(tmp_path, {"late": "correct", "ontime": "correct"})
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.LateSubmissionPlugin.penalty_method = 'zero'\n")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment("ps1", duedate=datetime(2026, 1, 10, 12, 0))
    (course / "submitted" / "late" / "ps1" / "timestamp.txt").write_text("2026-01-11 09:00:00.000000 UTC")
    (course / "submitted" / "ontime" / "ps1" / "timestamp.txt").write_text("2026-01-09 09:00:00.000000 UTC")
    unsafe = grading.isolation_problem() is not None      # trusted (reference) code only
    status = grading.autograde(course, "ps1", cell_timeout=30, wall_timeout=120, unsafe_no_isolation=unsafe,
                               log=lambda s: None)
    rows = {r["student_id"]: r for r in grading.export(course, tmp_path / "grades.csv")}
    late, ontime = rows["late"], rows["ontime"]
    assert status == {"late": "ok", "ontime": "ok"}, status
    assert float(late["raw_score"]) == FULL and float(late["late_submission_penalty"]) == FULL, late
    assert float(late["score"]) == 0.0, late
    assert float(ontime["score"]) == FULL and float(ontime["late_submission_penalty"]) == 0.0, ontime


class _FlakyWorker:
    """Stands for session.Worker: the first ``failures`` starts fail as a killed start does (before any student
    code), later ones start a real (unisolated) worker."""
    starts = 0
    failures = 0

    def __new__(cls, *args, **kwargs):
        cls.starts += 1
        if cls.starts <= cls.failures:
            raise session.WorkerFailed("the worker exited while starting (status 247)", infra=True)
        kwargs["isolated"] = False
        return session.Worker(*args, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("failures, expect_state", [(2, "ok"), (99, "infrastructure error")])
def test_worker_starts_that_fail_are_retried_then_reported_never_zero(tmp_path, monkeypatch, failures, expect_state):
    from nbgrader.api import Gradebook

    from posecourse_tools.grading import grader
    from posecourse_tools.grading.__main__ import main
    course = _small_course(tmp_path, {"correct": "correct"})
    monkeypatch.setattr(grader, "Worker", type("W", (_FlakyWorker,), {"starts": 0, "failures": failures}))
    monkeypatch.setattr(grader.time, "sleep", lambda s: None)
    status = grading.autograde(course, "ps1", cell_timeout=30, wall_timeout=120, unsafe_no_isolation=True,
                               infra_retries=2, log=lambda s: None)
    assert status["correct"].startswith(expect_state), status
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = [gb.find_grade(c, "ex01_deeppose", "ps1", "correct") for c in ("test_normalize", "test_cascade", "test_pdj")]
        if expect_state == "ok":
            assert [g.score for g in grades] == [2.0, 3.0, 3.0]
        else:      # not graded: no 0 written, every cell flagged for the instructor's review
            assert all(g.auto_score is None and g.needs_manual_grade for g in grades), [g.to_dict() for g in grades]
    if expect_state != "ok":
        assert main(["autograde", str(course), "ps1", "--unsafe-no-isolation"]) == 3


def test_the_reader_holds_a_bounded_number_of_messages():
    """A worker that floods valid lines fills its pipe and blocks: the grader's reader thread keeps at most
    session.QUEUED messages, however many the worker writes, and stops when the worker is closed."""
    import os
    import queue
    import threading
    import types
    read_fd, write_fd = os.pipe()
    reader = session.Worker.__new__(session.Worker)
    reader.proc = types.SimpleNamespace(stdout=os.fdopen(read_fd, "rb"))
    reader.lines, reader.closing = queue.Queue(maxsize=session.QUEUED), threading.Event()
    written = []

    def flood():
        try:
            for _ in range(200_000):
                written.append(os.write(write_fd, b'{"id": 0, "ok": 0}\n' * 64))
        except OSError:
            pass
    writer = threading.Thread(target=flood, daemon=True)
    thread = threading.Thread(target=reader._read_stdout, daemon=True)
    writer.start(), thread.start()
    time.sleep(1.5)
    assert reader.lines.qsize() <= session.QUEUED
    assert writer.is_alive() and len(written) < 200_000, "the flooding writer should be blocked on a full pipe"
    reader.closing.set()
    os.close(write_fd)
    thread.join(timeout=5)
    assert not thread.is_alive(), "the reader should stop once the worker is being closed"
    reader.proc.stdout.close()


def test_the_cli_refuses_a_seed_out_of_range(tmp_path, capsys):
    from posecourse_tools.grading.__main__ import main
    with pytest.raises(SystemExit):
        main(["autograde", str(tmp_path), "ps1", "--seed", "-1"])
    assert "--seed" in capsys.readouterr().err
