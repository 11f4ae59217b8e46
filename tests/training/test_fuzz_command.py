"""Fuzzing the training loop, checkpoints and the command (issue 24): corrupted and truncated files in every
loading path, non-finite values in the data, nonsense option values and annotation files of the wrong shape
give a ``ValueError`` naming the file / option / step, or a correct run -- never a raw torch/pickle error, a
NaN result reported as a score, or lost outputs."""
from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from posecourse.train.command import main, parse_args
from posecourse.train import NonFiniteLossError, load_checkpoint, save_checkpoint, train
from posecourse.train.weights import load_weights

FUZZ = settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
SLOW = settings(FUZZ, max_examples=5)


def _linear_run(tmp, n=48, batch=8):
    torch.manual_seed(0)
    x = torch.randn(n, 4)
    y = x @ torch.randn(4, 2)
    return nn.Linear(4, 2), x, y, lambda out, b: ((out - b[1]) ** 2).mean()


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ck")
    model, x, y, loss = _linear_run(tmp)
    train(model, DataLoader(TensorDataset(x, y), batch_size=8), loss, max_steps=3, device="cpu", progress=False,
          checkpoint=tmp / "good.pt")
    return (tmp / "good.pt").read_bytes()


def _corrupt(data: bytes, how: str, at: float, byte: int) -> bytes:
    i = min(int(at * len(data)), len(data) - 1)
    if how == "truncate":
        return data[:i]
    if how == "flip":
        return data[:i] + bytes([data[i] ^ (byte or 1)]) + data[i + 1:]
    if how == "prefix":
        return bytes([byte]) * 16 + data
    if how == "json":
        return json.dumps({"model": [1, 2]}).encode()
    return b""


@FUZZ
@given(how=st.sampled_from(["truncate", "truncate", "flip", "prefix", "json", "empty"]),
       at=st.floats(0.0, 0.999), byte=st.integers(0, 255))
def test_corrupted_checkpoints_are_named_in_every_loading_path(tmp_path, good_checkpoint, how, at, byte):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / f"{how}.pt"
    path.write_bytes(_corrupt(good_checkpoint, how, at, byte))
    _, x, y, loss = _linear_run(tmp_path)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    for what, load in (("path", lambda m: load_checkpoint(path, m)),
                       ("--weights", lambda m: load_weights(m, path, what="--weights")),
                       ("path", lambda m: train(m, loader, loss, max_steps=4, device="cpu", progress=False,
                                                checkpoint=path))):
        model = _linear_run(tmp_path)[0]  # a fresh model per path: a flipped file one path loaded is no "before"
        before = {k: v.clone() for k, v in model.state_dict().items()}
        try:
            load(model)
        except ValueError as e:
            # the file is named; through the command, the option too (train names the part that differs, e.g.
            # "optimizer: settings differ from PATH" when a flipped byte turned a setting into another value)
            assert f"{path}" in str(e) and (what != "--weights" or what in str(e)), e
            assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing loaded
            continue
        # a flipped byte inside the tensor data can load (torch keeps no checksum): then it is a checkpoint
        assert how == "flip", f"{how} loaded through {what}"
    if how == "truncate":
        with pytest.raises(ValueError, match="path: "):
            load_checkpoint(path, model)


@FUZZ
@given(index=st.integers(0, 47), value=st.sampled_from([math.nan, math.inf, -math.inf]),
       where=st.sampled_from(["input", "target"]), batch=st.sampled_from([4, 8, 16]))
def test_a_non_finite_sample_stops_training_at_its_step(tmp_path, index, value, where, batch):
    model, x, y, loss = _linear_run(tmp_path)
    x, y = x.clone(), y.clone()
    (x if where == "input" else y)[index, 1] = value
    step = index // batch + 1
    with pytest.raises(NonFiniteLossError, match=rf"at step {step} \(epoch 1, batch {step - 1} of the epoch\)"):
        train(model, DataLoader(TensorDataset(x, y), batch_size=batch), loss, epochs=1, device="cpu",
              progress=False, checkpoint=tmp_path / f"c{index}_{batch}.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not (tmp_path / f"c{index}_{batch}.pt").exists()  # stopped in the first epoch: nothing saved


@FUZZ
@given(lr=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["0", "1e-3", "x", None, True])),
       out=st.sampled_from(["scalar", "vector", "float", "none", "nan"]))
def test_train_arguments_and_losses_mutated(tmp_path, lr, out):
    model, x, y, loss = _linear_run(tmp_path)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    fn = {"scalar": loss, "vector": lambda o, b: (o - b[1]).abs().mean(0), "float": lambda o, b: 1.0,
          "none": lambda o, b: None, "nan": lambda o, b: loss(o, b) * math.nan}[out]
    try:
        h = train(model, loader, fn, max_steps=2, lr=lr, device="cpu", progress=False)
    except NonFiniteLossError as e:
        assert out == "nan" and "at step 1" in str(e)
        return
    except ValueError as e:
        assert str(e).startswith("lr: ") or "loss_fn must return a scalar tensor" in str(e), e
        return
    want = 1e-3 if lr is None else float(lr)  # None: the default; 0 is never read as "not given"
    assert out == "scalar" and 0 < want <= 1 and not isinstance(lr, bool)
    assert h.steps == 2 and all(math.isfinite(v) for v in h.losses) and h.lrs == [want] * 2


# ---------------------------------------------------------------------------- the command's options
OPTIONS = {"--steps": "N", "--batch-size": "N", "--lr": "F", "--input-size": "N", "--seed": "N", "--workers": "N",
           "--val-size": "N", "--input-mean": "F3", "--input-std": "F3", "--lr-drops": "N"}
VALUES = ["0", "-1", "1", "3", "1e-3", "nan", "inf", "-inf", "1e30", "", "x", "2.5", "4294967296", "-0"]


@settings(deadline=None, max_examples=60)
@given(option=st.sampled_from(sorted(OPTIONS)), value=st.sampled_from(VALUES))
def test_option_values_are_parsed_into_range_or_refused(option, value):
    n = 3 if OPTIONS[option] == "F3" else 1
    argv = ["--lecture", "01", "--out", "unused", f"{option}={value}"] + ([value] * (n - 1))
    try:
        args = parse_args(argv)
    except SystemExit:
        return
    v = getattr(args, option[2:].replace("-", "_"))
    vals = v if isinstance(v, (list, tuple)) else [v]
    assert all(math.isfinite(float(u)) for u in vals)
    if option == "--lr":
        assert 0 < v <= 1
    elif option == "--input-std":
        assert min(v) > 0
    elif option in ("--steps", "--workers"):
        assert v >= 0
    elif option == "--seed":
        assert 0 <= v <= 2 ** 32 - 1
    elif option in ("--batch-size", "--val-size", "--input-size", "--lr-drops"):
        assert min(vals) >= 1


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert main(["--lecture", "01", "--steps", "2", "--batch-size", "2", "--val-size", "2", "--no-progress",
                 "--out", str(run)]) == 0
    return run


@SLOW
@given(option=st.sampled_from(["--weights", "--init", "--resume"]),
       how=st.sampled_from(["truncate", "prefix", "json", "empty"]), at=st.floats(0.0, 0.99))
def test_command_names_a_corrupted_checkpoint_and_keeps_the_run(tmp_path, trained_run, option, how, at):
    src = trained_run / "checkpoint.pt"
    here = Path(tempfile.mkdtemp(dir=tmp_path))  # one folder per example (tmp_path is shared by them)
    out = here / "out"
    out.mkdir()
    bad = out / "checkpoint.pt" if option == "--resume" else here / "bad.pt"
    bad.write_bytes(_corrupt(src.read_bytes(), how, at, 7))
    argv = ["--lecture", "01", "--val-size", "2", "--batch-size", "2", "--no-progress", "--out", str(out)]
    argv += [option, str(bad)] if option != "--resume" else ["--resume", "--steps", "3"]
    if option == "--init":
        argv += ["--steps", "1"]
    with pytest.raises(ValueError, match=f"{option}: {bad}"):
        main(argv)
    assert sorted(p.name for p in out.iterdir()) == (["checkpoint.pt"] if option == "--resume" else [])


COCO_FIELDS = ["images", "annotations", "categories", "iscrowd", "bbox", "keypoints", "root"]
COCO_VALUES = [None, "0", [], {}, [1, 2], math.nan, -1, "x"]


def _mutated_coco(doc: dict, field: str, value):
    doc = copy.deepcopy(doc)
    if field == "root":
        return value
    if field in ("images", "annotations", "categories"):
        doc[field] = value
    else:
        doc["annotations"][0][field] = value
    return doc


@pytest.mark.parametrize("field", COCO_FIELDS)
def test_every_mutated_coco_file_opens_or_is_named(tmp_path, shared_data, field):
    """Every (field, value) of the fuzz below, without training: the command's data (RealSource, augmented, so
    with the flip's left/right check) opens, or the ValueError names ann.json. (Found by the fuzz: a file
    whose ``categories`` is ``[]`` names no joints, and the flip's error did not name the file.)"""
    from posecourse.lectures import get_lecture
    from posecourse.train.run import RealSource

    doc = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    named = 0
    for value in COCO_VALUES:
        root = Path(tempfile.mkdtemp(dir=tmp_path))
        (root / "ann.json").write_text(json.dumps(_mutated_coco(doc, field, value)))
        try:
            src = RealSource("coco", root, get_lecture("03"), 64, img_dir=shared_data / "coco")
        except ValueError as e:
            assert "ann.json" in str(e), (field, value, e)
            named += 1
            continue
        assert len(src.train_set) and len(src.held_out), (field, value)
    assert named, f"no mutation of {field!r} was refused: the sweep tests nothing"


@SLOW
@given(field=st.sampled_from(COCO_FIELDS), value=st.sampled_from(COCO_VALUES))
def test_command_on_a_mutated_coco_file(tmp_path, shared_data, field, value):
    """docs/loaders.md: a file of the wrong format is the loaders' ValueError naming it, through the command
    too; a file that loads trains (one step) and writes its metrics."""
    doc = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    doc = _mutated_coco(doc, field, value)
    here = Path(tempfile.mkdtemp(dir=tmp_path))
    root = here / "coco"
    root.mkdir()
    (root / "ann.json").write_text(json.dumps(doc))
    out = here / "out"
    try:
        main(["--lecture", "03", "--data", "coco", "--data-root", str(root), "--img-dir", str(shared_data / "coco"),
              "--steps", "1", "--batch-size", "1", "--no-progress", "--out", str(out)])
    except ValueError as e:
        assert "ann.json" in str(e), e
        return
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 1 and math.isfinite(m["loss_curve"][0])
    shutil.rmtree(here)


ENTRIES = ["model", "optimizer", "scheduler", "scaler", "history", "step", "run"]
ODD = [None, 3, "x", [1, 2], {}, {"weight": 1}, {"state": {}}, {"steps": "a"}, {"losses": 3}, -1, True,
       torch.zeros(2)]


@settings(FUZZ, max_examples=30)
@given(entry=st.sampled_from(ENTRIES), value=st.sampled_from(ODD), inner=st.booleans())
def test_checkpoints_with_odd_entries_are_named(tmp_path, good_checkpoint, entry, value, inner):
    """A checkpoint whose entries were edited or written by other code: a ValueError naming the file, or a
    load that restores exactly what the file holds."""
    import io

    state = torch.load(io.BytesIO(good_checkpoint), weights_only=True)
    if inner and isinstance(state.get(entry), dict) and state[entry]:
        state[entry][next(iter(state[entry]))] = value   # one field inside the entry
    else:
        state[entry] = value
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "c.pt"
    torch.save(state, path)
    for what, load in (("path", lambda m: load_checkpoint(path, m, torch.optim.Adam(m.parameters()))),
                       ("--weights", lambda m: load_weights(m, path, what="--weights"))):
        model = nn.Linear(4, 2)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        try:
            load(model)
        except ValueError as e:
            assert f"{path}" in str(e) and (what != "--weights" or what in str(e)), e
            assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
            continue
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, state["model"][k])
