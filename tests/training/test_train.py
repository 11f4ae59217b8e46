"""The training loop: it learns, it respects its budgets, it checkpoints and resumes, and under
torchrun (2 CPU processes, gloo) both ranks end with identical weights."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from posecourse.models.losses import heatmap_loss
from posecourse.models import create_model
from posecourse.train import History, load_checkpoint, save_checkpoint, to_device, train


def _gaussian_targets(keypoints, visibility, size, stride, sigma):
    """(B, K, 2) pixel joints -> (B, K + 1, h, w) belief maps with CPM's background channel, and (B, K + 1)
    weights. Inline so this test does not depend on posecourse.targets (tested on its own)."""
    h, w = size
    ys = torch.arange(h, device=keypoints.device, dtype=keypoints.dtype)
    xs = torch.arange(w, device=keypoints.device, dtype=keypoints.dtype)
    c = (keypoints - (stride - 1) / 2) / stride  # pixel centres -> map cells
    d2 = (xs[None, None, None, :] - c[..., 0, None, None]) ** 2 + (ys[None, None, :, None] - c[..., 1, None, None]) ** 2
    maps = torch.exp(-d2 / (2 * sigma**2)) * (visibility > 0)[..., None, None]
    bg = 1 - maps.amax(1, keepdim=True)
    weights = torch.cat([(visibility > 0).float(), torch.ones_like(visibility[:, :1])], 1)
    return torch.cat([maps, bg], 1), weights


class _Dots(Dataset):
    """Fallback synthetic data: K coloured 5x5 squares on a dark noisy 64x64 image (used when
    posecourse.data.synthetic is not importable)."""

    def __init__(self, length, K=4, size=64, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.kp = torch.randint(8, size - 8, (length, 1, K, 2), generator=g).float()
        self.noise = 0.1 * torch.rand(length, 3, size, size, generator=g)
        self.colors = torch.eye(3).repeat(2, 1)[:K, :, None, None] * 0.9
        self.K, self.size = K, size

    def __len__(self):
        return len(self.kp)

    def __getitem__(self, i):
        img = self.noise[i].clone()
        for k, (x, y) in enumerate(self.kp[i, 0].long().tolist()):
            img[:, y - 2:y + 3, x - 2:x + 3] = self.colors[k]
        return {"image": img, "keypoints": self.kp[i], "visibility": torch.full((1, self.K), 2.0),
                "boxes": torch.tensor([[0.0, 0.0, self.size, self.size]]), "skeleton": "none", "meta": {"index": i}}


def _dataset(length):
    try:
        from posecourse.data.synthetic import SyntheticPoseDataset
    except ImportError:
        return _Dots(length), 4
    ds = SyntheticPoseDataset(length, image_size=64, num_people=1, skeleton="mpii16", seed=0)
    return ds, 16


@pytest.mark.slow
def test_tiny_heatmap_model_loss_halves_in_seconds():
    """The issue's check: a tiny heatmap model (cpm_tiny) on synthetic data, the library's own targets,
    a few seconds of training (60 steps, ~5 s on 2 idle cores; a fixed step count keeps it
    deterministic on a loaded machine): the loss falls by at least half."""
    from posecourse.data import collate
    from posecourse.targets import heatmap

    torch.manual_seed(0)
    ds, K = _dataset(512)
    loader = DataLoader(ds, batch_size=8, shuffle=True, collate_fn=collate)
    model = create_model("cpm_tiny", num_joints=K)

    def loss_fn(outputs, batch):
        target, weight = heatmap.encode(batch["keypoints"], batch["visibility"], outputs[0].shape[-2:], stride=4,
                                        sigma=1.5, background=True)
        return heatmap_loss(outputs, target, weight)

    hist = train(model, loader, loss_fn, max_steps=60, lr=3e-3, device="cpu", progress=False, seed=0)
    assert hist.steps == 60
    first, last = sum(hist.losses[:3]) / 3, sum(hist.losses[-3:]) / 3
    assert last < 0.5 * first, (first, last)


@pytest.mark.slow
def test_tiny_deeppose_learns_normalized_coordinates():
    from posecourse.data import collate
    from posecourse.geometry import normalize
    from posecourse.models.losses import coordinate_loss

    torch.manual_seed(0)
    ds, K = _dataset(256)
    loader = DataLoader(ds, batch_size=16, shuffle=True, collate_fn=collate)
    model = create_model("deeppose_tiny", num_joints=K, image_size=64)

    def loss_fn(pred, batch):
        target = normalize(batch["keypoints"][:, 0], batch["boxes"][:, 0])  # N(y; b), b = the person box
        return coordinate_loss(pred, target, batch["visibility"][:, 0])

    hist = train(model, loader, loss_fn, max_steps=60, lr=2e-3, device="cpu", progress=False, seed=0)
    first, last = sum(hist.losses[:3]) / 3, sum(hist.losses[-3:]) / 3
    assert last < 0.5 * first, (first, last)


def _regression_setup(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.randn(4, 2, generator=g)
    return nn.Linear(4, 2), DataLoader(TensorDataset(x, y), batch_size=16), lambda out, batch: ((out - batch[1]) ** 2).mean()


def test_epochs_steps_and_history():
    model, loader, loss_fn = _regression_setup()
    hist = train(model, loader, loss_fn, epochs=3, lr=0.05, device="cpu", progress=False, seed=0)
    assert isinstance(hist, History)
    assert hist.epochs == 3 and hist.steps == 12 and len(hist.losses) == 12 and len(hist.epoch_losses) == 3
    assert hist.metrics == [] and model.training
    assert hist.epoch_losses[-1] < hist.epoch_losses[0]
    assert hist.seconds > 0
    assert train(model, loader, loss_fn, max_steps=2, device="cpu", progress=False).steps == 2


def test_budget_is_optimizer_steps_never_seconds():
    """Issue 14: the budget is max_steps / epochs; a slow step does not shorten the run, and the seconds
    it took are reported."""
    model, loader, base = _regression_setup(n=1024)

    def slow_loss(out, batch):
        time.sleep(0.02)
        return base(out, batch)

    hist = train(model, loader, slow_loss, max_steps=5, device="cpu", progress=False)
    assert hist.steps == 5 and len(hist.losses) == 5 and hist.seconds >= 5 * 0.02
    with pytest.raises(TypeError, match="seconds"):
        train(model, loader, base, seconds=1.0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="epochs or max_steps"):
        train(model, loader, base, device="cpu", progress=False)


def test_device_defaults_to_cuda_if_present_else_cpu():
    model, loader, loss_fn = _regression_setup()
    train(model, loader, loss_fn, max_steps=1, progress=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.parameters()).device.type in ((expected,) if expected == "cuda" else ("cpu", "mps"))


def test_papermill_strings_are_parsed_or_rejected_by_name():
    model, loader, loss_fn = _regression_setup()
    assert train(model, loader, loss_fn, max_steps="3", progress="False", device="cpu", seed="0").steps == 3
    for kw, name in ((dict(max_steps="three"), "max_steps"), (dict(epochs=1.5), "epochs"),
                     (dict(epochs=1, progress="maybe"), "progress"), (dict(epochs=1, seed=-1), "seed"),
                     (dict(epochs=1, device="gpu"), "device"), (dict(max_steps=-1), "max_steps")):
        with pytest.raises(ValueError, match=f"^{name}: "):
            train(model, loader, loss_fn, **{"device": "cpu", **kw})


def test_lr_beside_an_optimizer_is_an_error():
    model, loader, loss_fn = _regression_setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="^lr: "):
        train(model, loader, loss_fn, max_steps=1, lr=0.01, optimizer=opt, device="cpu", progress=False)


def test_checkpoint_resume(tmp_path):
    path = tmp_path / "ck.pt"
    model, loader, loss_fn = _regression_setup()
    h1 = train(model, loader, loss_fn, epochs=2, device="cpu", progress=False, checkpoint=path, seed=0)
    assert path.is_file() and h1.steps == 8
    model2 = nn.Linear(4, 2)
    h2 = train(model2, loader, loss_fn, epochs=3, device="cpu", progress=False, checkpoint=path, seed=0)
    assert h2.epochs == 3 and h2.steps == 12 and h2.losses[:8] == h1.losses  # resumed, one more epoch
    model3 = nn.Linear(4, 2)
    opt = torch.optim.Adam(model3.parameters())
    state = load_checkpoint(path, model3, opt)
    assert state["step"] == 12 and state["history"].epochs == 3 and opt.state_dict()["state"]
    torch.testing.assert_close(model3.state_dict(), model2.state_dict())
    with pytest.raises(ValueError, match="path"):
        load_checkpoint(tmp_path / "missing.pt", model3)


def test_checkpoint_roundtrip_keeps_history(tmp_path):
    model = nn.Linear(2, 2)
    h = History(losses=[1.0, 0.5], steps=2, epochs=1, metrics=[{"step": 2, "epoch": 1, "pck": 0.3}])
    save_checkpoint(tmp_path / "a" / "m.pt", model, history=h)
    state = load_checkpoint(tmp_path / "a" / "m.pt", nn.Linear(2, 2))
    assert state["history"] == h and state["step"] == 2


def test_to_device_recursive_and_arguments():
    b = {"image": torch.zeros(1), "nested": [torch.ones(1), ("s", 3)], "skeleton": "mpii16"}
    out = to_device(b, torch.device("cpu"))
    assert out["skeleton"] == "mpii16" and out["nested"][1] == ("s", 3) and torch.equal(out["nested"][0], torch.ones(1))
    model, loader, loss_fn = _regression_setup()
    with pytest.raises(ValueError, match="epochs"):
        train(model, loader, loss_fn, device="cpu")
    with pytest.raises(ValueError, match="amp"):
        train(model, loader, loss_fn, epochs=1, device="cpu", amp=True, progress=False)


def test_history_plot():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    ax = History(losses=[1.0 / (i + 1) for i in range(30)]).plot()
    assert len(ax.lines) == 2


_DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch, torch.nn as nn
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
    from posecourse.train import train
    torch.manual_seed(int(os.environ["RANK"]))      # different initial weights: DDP must broadcast rank 0's
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g); y = x @ torch.randn(4, 2, generator=g)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    seen = []
    def loss_fn(out, batch):
        seen.extend(batch[0][:, 0].tolist())
        return ((out - batch[1]) ** 2).mean()
    data = TensorDataset(x, y)
    share = DistributedSampler(data, int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"]), seed=0)
    hist = train(model, DataLoader(data, batch_size=8, sampler=share), loss_fn, epochs=2, device="cpu",
                 progress=False, seed=0, checkpoint=sys.argv[1] + "/ck.pt")
    torch.save({"state": model.state_dict(), "steps": hist.steps, "seen": seen}, sys.argv[1] + f"/rank{os.environ['RANK']}.pt")
""")


def _torchrun(tmp_path, repo_root, script_text: str, *args: str, hung: str = "torchrun did not finish in 90 s"):
    """Run ``script_text`` under ``torchrun --nproc_per_node=2`` (CPU, gloo) with ``tmp_path`` and ``args`` as its
    arguments; fails the test with ``hung`` after 90 s or with the output's tail on a non-zero exit."""
    script = tmp_path / "ddp_script.py"
    script.write_text(script_text)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo_root)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script), str(tmp_path), *args]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(hung)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


@pytest.mark.slow
def test_ddp_two_cpu_ranks_end_identical(tmp_path, repo_root):
    _torchrun(tmp_path, repo_root, _DDP_SCRIPT)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert r0["steps"] == r1["steps"] == 8  # 64 samples / 2 ranks / batch 8, 2 epochs
    e0, e1 = set(r0["seen"][:32]), set(r1["seen"][:32])  # epoch 1: the DistributedSampler split the 64 samples
    assert len(e0 | e1) == 64
    for k in r0["state"]:
        torch.testing.assert_close(r0["state"][k], r1["state"][k], rtol=0, atol=0)
    assert (tmp_path / "ck.pt").is_file()


def test_amp_choice(monkeypatch):
    from posecourse.train import _amp_dtype

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert _amp_dtype("auto", cpu) is None and _amp_dtype(False, cuda) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert _amp_dtype("auto", cuda) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert _amp_dtype(True, cuda) is torch.float16  # older GPUs: fp16 with a GradScaler
    assert _amp_dtype("bf16", cuda) is torch.bfloat16
    assert _amp_dtype("False", cuda) is None and _amp_dtype(" AUTO ", cpu) is None  # papermill strings
    assert _amp_dtype("true", cuda) is torch.float16
    with pytest.raises(ValueError, match="^amp: expected"):
        _amp_dtype("maybe", cpu)
    with pytest.raises(ValueError, match="amp"):
        _amp_dtype("int8", cuda)


def test_progress_bar_runs(capsys):
    model, loader, loss_fn = _regression_setup()
    assert train(model, loader, loss_fn, max_steps=3, device="cpu", progress=True).steps == 3
    assert train(model, loader, loss_fn, epochs=1, device="cpu", progress=True).epochs == 1
    assert "train" in capsys.readouterr().out  # a text bar on stdout: stored notebooks keep a finished line


# --- issue 24: no silent NaN training, no work lost to a bad checkpoint path ------------------------------

def test_learning_rate_zero_is_zero_and_refused():
    """0 is read as 0 (never as "not given"), and Adam at 0, below 0, non-finite or above 1 is refused."""
    from posecourse.train.fit import fit
    from posecourse.lectures import get_lecture

    model, loader, loss_fn = _regression_setup()
    for lr in (0.0, 0, -1e-3, float("nan"), float("inf"), 1e30, "0"):
        with pytest.raises(ValueError, match="^lr: "):
            train(model, loader, loss_fn, max_steps=1, lr=lr, device="cpu", progress=False)
        with pytest.raises(ValueError, match="^lr: "):
            fit(get_lecture("01"), None, 1, lr=lr, progress=False)
    assert train(model, loader, loss_fn, max_steps=1, lr="1e-3", device="cpu", progress=False).lrs == [1e-3]


def test_non_finite_loss_stops_training_naming_step_and_batch(tmp_path):
    model, loader, loss_fn = _regression_setup()
    x, y = loader.dataset.tensors
    y = y.clone()
    y[37, 1] = float("nan")  # sample 37: the third batch of 16
    bad = DataLoader(TensorDataset(x, y), batch_size=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match=r"loss: nan at step 3 \(epoch 1, batch 2 of the epoch\)"):
        train(model, bad, loss_fn, epochs=2, device="cpu", progress=False, checkpoint=tmp_path / "c.pt")
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())  # stopped before the update
    assert not (tmp_path / "c.pt").exists() and before.keys() == model.state_dict().keys()


def test_non_finite_loss_names_the_samples_of_a_dict_batch():
    batch = {"image": torch.zeros(2, 4), "meta": [{"index": 5}, {"index": 9}]}
    from posecourse.train import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match=r"batch 0 of the epoch \(sample indices \[5, 9\]\)"):
        train(nn.Linear(4, 1), [batch], lambda out, b: out.sum() * float("inf"), max_steps=1, device="cpu",
              progress=False)


def test_weights_that_blow_up_are_not_saved(tmp_path):
    model, loader, loss_fn = _regression_setup()
    opt = torch.optim.SGD(model.parameters(), lr=1e30)  # one step takes every weight to ~1e30, the next to inf
    with pytest.raises(FloatingPointError):
        train(model, loader, loss_fn, max_steps=3, optimizer=opt, device="cpu", progress=False,
              checkpoint=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_checkpoint_path_is_checked_before_the_first_step(tmp_path):
    model, loader, _ = _regression_setup()
    calls = []

    def loss_fn(out, batch):
        calls.append(1)
        return ((out - batch[1]) ** 2).mean()

    (tmp_path / "afile").write_text("x")
    for path, msg in ((tmp_path, "is a folder"), (tmp_path / "afile" / "c.pt", "cannot create the folder")):
        with pytest.raises(ValueError, match=f"^checkpoint: .*{msg}"):
            train(model, loader, loss_fn, max_steps=2, device="cpu", progress=False, checkpoint=path)
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no temporary file left


@pytest.mark.parametrize("content", [b"", b"\x80\x04truncated", b"PK\x03\x04", b"hello"])
def test_unreadable_checkpoint_files_are_named(tmp_path, content):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    model, loader, loss_fn = _regression_setup()
    with pytest.raises(ValueError, match=f"^path: {path}"):
        load_checkpoint(path, model)
    with pytest.raises(ValueError, match=f"^path: {path}"):
        train(model, loader, loss_fn, max_steps=1, device="cpu", progress=False, checkpoint=path)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="not a save_checkpoint file"):
        load_checkpoint(path, model)


_DDP_NAN_SCRIPT = textwrap.dedent("""
    import os, sys, torch, torch.nn as nn
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
    from posecourse.train import NonFiniteLossError, train
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g); y = x @ torch.randn(4, 2, generator=g)
    x[int(sys.argv[2])] = float("nan")          # one sample: only the process that draws it sees a NaN loss
    try:
        data = TensorDataset(x, y)
        share = DistributedSampler(data, int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"]), seed=0)
        train(nn.Linear(4, 2), DataLoader(data, batch_size=8, sampler=share), lambda o, b: ((o - b[1]) ** 2).mean(),
              epochs=2, device="cpu", progress=False, seed=0)
    except NonFiniteLossError as e:
        open(sys.argv[1] + f"/rank{os.environ['RANK']}.txt", "w").write(str(e))
""")


@pytest.mark.slow
def test_ddp_a_nan_in_one_process_stops_every_process_at_that_step(tmp_path, repo_root):
    _torchrun(tmp_path, repo_root, _DDP_NAN_SCRIPT, "37",
              hung="a NaN in one process hung the other (torchrun did not finish in 90 s)")
    msgs = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    steps = {m.split(" at step ")[1].split(" ")[0] for m in msgs}
    assert len(steps) == 1, msgs  # the same step in both
    assert any(m.startswith("loss: nan at step") for m in msgs)
    assert any("non-finite in another process" in m for m in msgs)


def test_under_torchrun_a_loader_without_a_distributed_sampler_is_refused(monkeypatch):
    """train() never rebuilds the caller's DataLoader: under torchrun one that would hand every process every
    sample is an error naming the loader, raised before the process group is touched."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    model, loader, loss_fn = _regression_setup()
    with pytest.raises(ValueError, match=r"^loader: under torchrun \(WORLD_SIZE=2\).*DistributedSampler"):
        train(model, loader, loss_fn, max_steps=1, device="cpu", progress=False)
    assert not torch.distributed.is_initialized()
