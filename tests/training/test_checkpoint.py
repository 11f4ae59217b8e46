"""Checkpoints (issue 16, point 2): what is saved loads back under ``torch.load(weights_only=True)``, and a
resume restores optimizer and learning-rate schedule exactly or fails before the first step, saying what
differs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.utils.data import DataLoader, TensorDataset

from posecourse.train import History, load_checkpoint, save_checkpoint, train
from posecourse.utils import to_plain


def _setup(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.randn(4, 2, generator=g)
    torch.manual_seed(seed)
    return nn.Linear(4, 2), DataLoader(TensorDataset(x, y), batch_size=16), lambda out, b: ((out - b[1]) ** 2).mean()


def _counting(loss_fn):
    calls = []

    def f(out, batch):
        calls.append(1)
        return loss_fn(out, batch)

    return f, calls


# ----------------------------------------------------------------------------- weights_only round trip
def test_numpy_metadata_round_trips_under_weights_only(tmp_path):
    """Today's bug: a NumPy float in the metadata saves, then cannot be loaded (UnpicklingError)."""
    path = tmp_path / "m.pt"
    hist = History(losses=[1.0], steps=1, epochs=1,
                   metrics=[{"step": 1, "epoch": 1, "pck": np.float32(0.25), "per_joint": np.array([0.5, 1.0])}])
    save_checkpoint(path, nn.Linear(2, 2), history=hist,
                    value=np.float64(0.75), count=np.int64(3), flag=np.bool_(True), name=np.str_("cpm"),
                    grid=np.arange(6, dtype=np.int16).reshape(2, 3), scores=np.array([0.5, np.nan]),
                    size=(64, 48), where=Path("checkpoints") / "a.pt", t=torch.tensor(2.5), dtype=torch.float32,
                    nested={np.int64(1): {"x": [np.float16(0.5)]}}, tags={"b", "a"}, mask=torch.ones(2, 2))
    raw = torch.load(path, weights_only=True)
    assert raw["value"] == 0.75 and type(raw["value"]) is float
    assert raw["count"] == 3 and type(raw["count"]) is int
    assert raw["flag"] is True and raw["name"] == "cpm" and type(raw["name"]) is str
    assert raw["grid"] == [[0, 1, 2], [3, 4, 5]] and type(raw["grid"][0][0]) is int
    assert raw["scores"][0] == 0.5 and np.isnan(raw["scores"][1])
    assert raw["size"] == [64, 48] and raw["where"] == str(Path("checkpoints") / "a.pt")
    assert raw["t"] == 2.5 and raw["dtype"] == "torch.float32"
    assert raw["nested"] == {1: {"x": [0.5]}} and raw["tags"] == ["a", "b"]
    torch.testing.assert_close(raw["mask"], torch.ones(2, 2))  # tensors stay tensors
    state = load_checkpoint(path, nn.Linear(2, 2))
    assert state["history"].metrics == [{"step": 1, "epoch": 1, "pck": 0.25, "per_joint": [0.5, 1.0]}]
    assert state["step"] == 1


_scalars = st.one_of(
    st.integers(-2**31, 2**31 - 1).map(np.int32), st.integers(-2**62, 2**62).map(np.int64),
    st.floats(width=32, allow_nan=False).map(np.float32), st.floats(allow_nan=False).map(np.float64),
    st.booleans().map(np.bool_), st.text(max_size=5).map(np.str_), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=5), st.none())
_arrays = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int8, np.int64, np.bool_]),
                     hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
_meta = st.recursive(st.one_of(_scalars, _arrays),
                     lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                                             st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=12)


def _expected(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_expected(x) for x in v]
    if isinstance(v, dict):
        return {k: _expected(x) for k, x in v.items()}
    return v


def _equal(a, b):
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=_meta)
def test_any_numpy_metadata_loads_back_as_plain_python(tmp_path, meta):
    path = tmp_path / "p.pt"
    save_checkpoint(path, nn.Linear(1, 1), meta=meta)
    loaded = torch.load(path, weights_only=True)["meta"]
    assert _equal(loaded, _expected(meta)), (loaded, meta)


def test_unconvertible_metadata_is_rejected_naming_the_key(tmp_path):
    path = tmp_path / "m.pt"
    with pytest.raises(ValueError, match=r"extra 'meta'\['fn'\] is a builtins.function"):
        save_checkpoint(path, nn.Linear(2, 2), meta={"fn": lambda: 0})
    with pytest.raises(ValueError, match=r"extra 'z'.*complex"):
        save_checkpoint(path, nn.Linear(2, 2), z=np.complex64(1j))
    with pytest.raises(ValueError, match=r"reserved"):
        save_checkpoint(path, nn.Linear(2, 2), optimizer_type="SGD")
    assert not path.exists() and not list(tmp_path.iterdir())  # nothing written, no stray temp file
    assert to_plain((np.float32(1.5), Path("a"))) == [1.5, "a"]


# ----------------------------------------------------------------------------- resume: exact or refused
def test_resume_with_another_optimizer_fails_before_training(tmp_path):
    """Today: an SGD resumed from an Adam checkpoint loads Adam's groups, then fails later with KeyError."""
    path = tmp_path / "ck.pt"
    model, loader, loss_fn = _setup()
    train(model, loader, loss_fn, epochs=1, device="cpu", progress=False, checkpoint=path)
    before, saved = {k: v.clone() for k, v in model.state_dict().items()}, path.read_bytes()
    counted, calls = _counting(loss_fn)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"^optimizer: .*torch\.optim\.adam\.Adam.*torch\.optim\.sgd\.SGD"):
        train(model, loader, counted, epochs=3, optimizer=sgd, device="cpu", progress=False, checkpoint=path)
    assert calls == [] and path.read_bytes() == saved
    torch.testing.assert_close(model.state_dict(), before, rtol=0, atol=0)
    assert sgd.param_groups[0]["lr"] == 0.1 and "betas" not in sgd.param_groups[0]


def test_resume_with_another_learning_rate_fails_instead_of_resetting_it(tmp_path):
    """Today: the checkpoint's lr silently replaces the one asked for."""
    path = tmp_path / "ck.pt"
    model, loader, loss_fn = _setup()
    train(model, loader, loss_fn, epochs=1, lr=0.01, device="cpu", progress=False, checkpoint=path)
    counted, calls = _counting(loss_fn)
    with pytest.raises(ValueError, match=r"^optimizer: settings differ .*lr=0\.001 here, 0\.01 in the checkpoint"):
        train(nn.Linear(4, 2), loader, counted, epochs=2, lr=0.001, device="cpu", progress=False, checkpoint=path)
    assert calls == []
    h = train(nn.Linear(4, 2), loader, loss_fn, epochs=2, lr=0.01, device="cpu", progress=False, checkpoint=path)
    assert h.epochs == 2 and h.steps == 8


def test_resume_checks_parameter_groups_and_model(tmp_path):
    path = tmp_path / "ck.pt"
    model, loader, loss_fn = _setup()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    train(model, loader, loss_fn, epochs=1, optimizer=opt, device="cpu", progress=False, checkpoint=path)
    two = nn.Linear(4, 2)
    opt2 = torch.optim.Adam([{"params": [two.weight]}, {"params": [two.bias]}], lr=0.01)
    with pytest.raises(ValueError, match=r"^optimizer: .* 1 parameter group\(s\), this optimizer 2"):
        train(two, loader, loss_fn, epochs=2, optimizer=opt2, device="cpu", progress=False, checkpoint=path)
    swapped = nn.Linear(4, 2)
    opt3 = torch.optim.Adam([swapped.bias, swapped.weight], lr=0.01)  # same count, different order
    with pytest.raises(ValueError, match=r"^optimizer: exp_avg of parameter 0 in group 0 is \(2, 4\)"):
        train(swapped, loader, loss_fn, epochs=2, optimizer=opt3, device="cpu", progress=False, checkpoint=path)
    wd = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"weight_decay=0\.1 here, 0 in the checkpoint"):
        train(wd, loader, loss_fn, epochs=2, optimizer=torch.optim.Adam(wd.parameters(), lr=0.01, weight_decay=0.1),
              device="cpu", progress=False, checkpoint=path)
    wide = nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"^model: .*weight: \(2, 4\) saved, \(3, 4\) in the model"):
        train(wide, loader, loss_fn, epochs=2, device="cpu", progress=False, checkpoint=path)


def _sched_run(path, max_steps, sched_kw=None):
    model, loader, loss_fn = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, **(sched_kw or {"step_size": 5, "gamma": 0.5}))
    hist = train(model, loader, loss_fn, max_steps=max_steps, optimizer=opt, scheduler=sched, device="cpu",
                 progress=False, checkpoint=path)
    return model, opt, sched, hist


def test_scheduler_is_saved_and_restored_exactly(tmp_path):
    """12 steps in one run == 8 steps (two epochs of 4 batches), then a fresh model/optimizer/schedule resumed
    to 12: same weights, same losses, the same learning rate at every step (StepLR halves it every 5 steps)."""
    m_all, opt_all, sched_all, h_all = _sched_run(None, 12)
    assert h_all.lrs == [0.1] * 5 + [0.05] * 5 + [0.025] * 2
    path = tmp_path / "ck.pt"
    _sched_run(path, 8)
    m, opt, sched, h = _sched_run(path, 12)
    assert h.steps == 12 and h.lrs == h_all.lrs and h.losses == h_all.losses
    torch.testing.assert_close(m.state_dict(), m_all.state_dict(), rtol=0, atol=0)
    assert sched.state_dict() == sched_all.state_dict() and opt.param_groups[0]["lr"] == 0.025
    raw = torch.load(path, weights_only=True)
    assert raw["scheduler_type"] == "torch.optim.lr_scheduler.StepLR" and raw["scheduler"]["last_epoch"] == 12


def test_resume_refuses_a_missing_extra_or_different_schedule(tmp_path):
    path = tmp_path / "ck.pt"
    _sched_run(path, 7)
    model, loader, loss_fn = _setup()
    with pytest.raises(ValueError, match=r"^scheduler: .*StepLR learning-rate schedule; pass scheduler="):
        train(model, loader, loss_fn, max_steps=12, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
              device="cpu", progress=False, checkpoint=path)
    with pytest.raises(ValueError, match=r"^scheduler: settings differ .*step_size=3 here, 5 in the checkpoint"):
        _sched_run(path, 12, {"step_size": 3, "gamma": 0.5})
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"^scheduler: .*StepLR, this run gives .*ExponentialLR"):
        train(model, loader, loss_fn, max_steps=12, optimizer=opt, device="cpu", progress=False, checkpoint=path,
              scheduler=torch.optim.lr_scheduler.ExponentialLR(opt, 0.9))
    plain = tmp_path / "plain.pt"
    m2, loader, loss_fn = _setup()
    train(m2, loader, loss_fn, max_steps=3, optimizer=torch.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9),
          device="cpu", progress=False, checkpoint=plain)
    with pytest.raises(ValueError, match=r"^scheduler: .*holds no learning-rate schedule.*after 3 steps"):
        _sched_run(plain, 12)


def test_scheduler_argument_is_checked():
    model, loader, loss_fn = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    other = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="^scheduler: pass optimizer="):
        train(model, loader, loss_fn, max_steps=1, scheduler=torch.optim.lr_scheduler.StepLR(opt, 2), device="cpu")
    with pytest.raises(ValueError, match="^scheduler: it schedules a different optimizer"):
        train(model, loader, loss_fn, max_steps=1, optimizer=other, scheduler=torch.optim.lr_scheduler.StepLR(opt, 2),
              device="cpu")
    with pytest.raises(ValueError, match="^scheduler: ReduceLROnPlateau"):
        train(model, loader, loss_fn, max_steps=1, optimizer=opt,
              scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(opt), device="cpu")


def test_load_checkpoint_of_the_old_layout(tmp_path):
    """Files written before this change (no optimizer_type / scheduler keys) still load, with structure checks."""
    model = nn.Linear(4, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    path = tmp_path / "old.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "history": {"losses": [1.0], "epoch_losses": [], "metrics": [], "seconds": 0.1, "steps": 1, "epochs": 0},
                "step": 1}, path)
    m2 = nn.Linear(4, 2)
    o2 = torch.optim.Adam(m2.parameters())
    state = load_checkpoint(path, m2, o2)
    assert state["history"].steps == 1 and state["history"].lrs == [] and o2.state_dict()["state"]
    torch.testing.assert_close(m2.state_dict(), model.state_dict())


def test_optimizer_state_with_a_zero_stride_is_a_damaged_file(tmp_path):
    """A flipped byte can turn a saved stride into 0 (found by test_fuzz_command): Adam would then write into one
    memory cell from many elements and fail mid-step with a raw RuntimeError. The resume check names it first."""
    model, loader, loss_fn = _setup()
    path = tmp_path / "c.pt"
    train(model, loader, loss_fn, max_steps=2, device="cpu", progress=False, checkpoint=path)
    state = torch.load(path, weights_only=True)
    state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(2, 1).expand(2, 4)  # strides (1, 0)
    torch.save(state, path)
    fresh = nn.Linear(4, 2)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(ValueError, match=r"^optimizer: exp_avg of parameter 0 in group 0 is \(2, 4\), strides \(1, 0\)"):
        train(fresh, loader, loss_fn, max_steps=4, device="cpu", progress=False, checkpoint=path)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())  # nothing loaded
