"""The training / evaluation command on every ``--data``: the shared real samples (COCO, MPII, CrowdPose),
LSP and FLIC folders written here in their release layouts, resuming, official weights from the
manifests (no download), and its errors. Runs in-process (one process; see test_ddp.py for torchrun)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from posecourse.train.command import main
from posecourse.lectures import LECTURES, get_lecture
from posecourse.skeletons import get_skeleton


def _metrics(out):
    return json.loads((out / "metrics.json").read_text())


def _reloads(out, lecture: str, num_joints: int):
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    model = get_lecture(lecture).build_model(num_joints=num_joints)
    model.load_state_dict(state["model"])  # strict: every tensor of the lecture's model is there
    return state


@pytest.mark.parametrize("fmt, lecture, K, crops, metric", [
    ("coco", "03_hourglass", 17, 12, "PCK@0.2"),  # COCO-17 has no head segment: PCKh falls back to PCK
    ("mpii", "05_hrnet", 16, 5, "PCK@0.2"),
    ("crowdpose", "02_cpm", 14, 4, "PCK@0.2 (joint extent)"),
])
@pytest.mark.slow
def test_real_samples_train_and_evaluate(shared_data, tmp_path, fmt, lecture, K, crops, metric):
    out = tmp_path / fmt
    assert main(["--lecture", lecture, "--data", fmt, "--data-root", str(shared_data / fmt), "--steps", "2",
                 "--batch-size", "2", "--out", str(out), "--no-progress"]) == 0
    m = _metrics(out)
    assert m["steps"] == 2 and len(m["loss_curve"]) == 2 and m["num_joints"] == K
    assert m["samples"]["duplicates_first_epoch"] == 0 and m["samples"]["dataset_size"] == crops
    assert m["eval"]["metric"] == metric and m["eval"]["crops"] == crops and 0 <= m["eval"]["value"] <= 1
    assert m["eval_on"].startswith("the training annotations")
    if fmt == "coco":
        assert set(m["eval"]["oks_ap_gt_boxes"]) >= {"AP", "AP50", "AR"}
    state = _reloads(out, lecture, K)
    assert state["step"] == 2 and state["run"]["data"] == fmt and state["run"]["eval"]["metric"] == metric


@pytest.mark.slow
def test_bottom_up_on_coco_photos(shared_data, tmp_path):
    """OpenPose's lecture on whole COCO photos (COCO-17 labels converted to its COCO-18), scored with OKS AP
    against the file."""
    out = tmp_path / "op"
    assert main(["--lecture", "04_openpose", "--data", "coco", "--data-root", str(shared_data / "coco"),
                 "--steps", "2", "--batch-size", "2", "--out", str(out), "--no-progress"]) == 0
    m = _metrics(out)
    assert m["skeleton"] == "coco18" and m["samples"]["dataset_size"] == 4 and m["steps"] == 2
    assert m["eval"]["metric"] == "OKS AP" and m["eval"]["images"] == 4 and set(m["eval"]["stats"]) >= {"AP", "AR"}
    _reloads(out, "04_openpose", 18)


@pytest.mark.slow
def test_synthetic_checkpoint_on_coco_by_joint_name(shared_data, tmp_path):
    """The shipped (synthetic, MPII-16) HRNet fine-tuned on COCO crops: labels converted to MPII-16 for the
    loss, predictions back to COCO-17 for the score (the face joints it lacks are left out)."""
    from posecourse.lectures.shipped import checkpoint_path

    shipped = checkpoint_path("05_hrnet")
    if not shipped.exists():
        pytest.skip(f"no shipped checkpoint at {shipped}")
    out = tmp_path / "ft"
    assert main(["--lecture", "05_hrnet", "--data", "coco", "--data-root", str(shared_data / "coco"),
                 "--init", str(shipped), "--model-skeleton", "mpii16", "--steps", "2", "--batch-size", "4",
                 "--out", str(out), "--no-progress"]) == 0
    m = _metrics(out)
    assert (m["skeleton"], m["model_skeleton"], m["num_joints"]) == ("coco17", "mpii16", 16)
    face = [get_skeleton("coco17").index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    assert all(m["eval"]["per_joint"][k] == 0 for k in face) and m["eval"]["value"] > 0
    _reloads(out, "05_hrnet", 16)


def _image(path, w=96, h=128):
    rng = np.random.default_rng(len(str(path)))
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def _standing(n, K, rng):
    """``(n, K, 2)`` 1-based joints spread over a 96 x 128 frame (a rough standing figure plus noise)."""
    base = np.stack([np.linspace(30, 66, K), np.linspace(15, 115, K)], -1)
    return base[None] + rng.normal(0, 3, (n, K, 2)) + 1


def test_lsp_folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    xy = _standing(4, 14, rng)  # (N, 14, 2)
    savemat(tmp_path / "joints.mat", {"joints": np.concatenate([xy.transpose(2, 1, 0), np.zeros((1, 14, 4))], 0)})
    for n in range(1, 5):
        _image(tmp_path / "images" / f"im{n:04d}.jpg")
    out = tmp_path / "run"
    assert main(["--lecture", "01_deeppose", "--data", "lsp", "--data-root", str(tmp_path), "--steps", "2",
                 "--batch-size", "2", "--workers", "2", "--out", str(out), "--no-progress"]) == 0  # workers: pickling
    m = _metrics(out)
    assert m["skeleton"] == "lsp14" and m["eval"]["metric"] == "PDJ@0.2" and m["eval"]["crops"] == 4
    _reloads(out, "01_deeppose", 14)


@pytest.mark.slow
def test_flic_folder(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "images").mkdir()
    recs = []
    for i in range(4):
        coords = np.full((2, 29), np.nan)
        coords[:, [0, 1, 2, 3, 4, 5, 6, 9]] = _standing(1, 8, rng)[0].T
        recs.append({"coords": coords, "filepath": f"f{i}.jpg", "imgdims": np.array([128.0, 96.0, 3.0]),
                     "torsobox": np.array([20.0, 20.0, 70.0, 100.0]), "istrain": 1.0, "istest": 0.0})
        _image(tmp_path / "images" / f"f{i}.jpg")
    arr = np.zeros((1, 4), dtype=[(k, object) for k in recs[0]])
    for i, r in enumerate(recs):
        for k, v in r.items():
            arr[0, i][k] = v
    savemat(tmp_path / "examples.mat", {"examples": arr})
    out = tmp_path / "run"
    assert main(["--lecture", "05_hrnet", "--data", "flic", "--data-root", str(tmp_path), "--steps", "2",
                 "--batch-size", "2", "--out", str(out), "--no-progress"]) == 0
    m = _metrics(out)
    assert m["skeleton"] == "mpii16" and m["eval"]["metric"] == "PCK@0.2" and m["eval"]["crops"] == 4


def test_learning_rate_drops(tmp_path):
    assert main(["--lecture", "01", "--steps", "3", "--batch-size", "2", "--val-size", "2", "--lr", "0.01",
                 "--lr-drops", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    lrs = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["history"]["lrs"]
    np.testing.assert_allclose(lrs, [0.01, 0.01, 0.001])


def test_resume_continues_the_run(tmp_path):
    args = ["--lecture", "01", "--steps", "2", "--batch-size", "4", "--val-size", "8", "--out", str(tmp_path),
            "--no-progress"]
    assert main(args) == 0
    with pytest.raises(ValueError, match="--out: .*exists: resume it"):
        main(args)
    assert main([*args[:2], "--steps", "3", *args[4:], "--resume"]) == 0
    m = _metrics(tmp_path)
    assert m["steps"] == 3 and len(m["loss_curve"]) == 3
    assert m["eval_on"] == "held-out synthetic images (seed 10007, 8 images)"
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 3


@pytest.mark.slow
def test_official_weights_evaluate_with_flip_test(shared_data, shared_reference, tmp_path):
    """A file in the official HRNet layout (the manifest's keys and shapes, random values) is loaded strictly
    into hrnet_w32 and evaluated on the COCO crops with the flip test; nothing is trained or written but
    the metrics."""
    layout = json.loads((shared_reference / "hrnet_w32_state_dict.json").read_text())
    g = torch.Generator().manual_seed(0)
    state = {k: (torch.zeros((), dtype=torch.long) if k.endswith("num_batches_tracked")
                 else torch.ones(shape) if k.endswith("running_var")  # BatchNorm variances must be positive
                 else 0.01 * torch.randn(*shape, generator=g)) for k, shape in layout}
    path = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(state, path)
    out = tmp_path / "eval"
    assert main(["--lecture", "05_hrnet", "--preset", "paper", "--input-size", "64", "--data", "coco",
                 "--data-root", str(shared_data / "coco"), "--weights", str(path), "--out", str(out),
                 "--no-progress"]) == 0
    m = json.loads((out / "eval_metrics.json").read_text())
    assert m["model"] == "hrnet_w32" and m["official_weights"] and m["flip_test"] and m["steps"] == 0
    assert m["eval"]["crops"] == 12 and "integer-centred" in m["eval"]["conventions"]
    assert m["input_norm"] == ["rgb", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]  # HRNet's ImageNet Normalize
    assert sorted(p.name for p in out.iterdir()) == ["eval_metrics.json"]


def test_clear_errors(tmp_path, shared_data):
    with pytest.raises(SystemExit):
        main(["--lecture", "03", "--data", "coco", "--out", str(tmp_path)])  # no --data-root
    with pytest.raises(ValueError, match="lecture: unknown"):
        main(["--lecture", "99_nope", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="bottom-up"):
        main(["--lecture", "04_openpose", "--data", "mpii", "--data-root", str(shared_data / "mpii"),
              "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="--resume: no checkpoint"):
        main(["--lecture", "01", "--steps", "1", "--out", str(tmp_path / "new"), "--resume"])
    with pytest.raises(ValueError, match="draws square images"):
        main(["--lecture", "05", "--input-size", "64", "48", "--steps", "1", "--out", str(tmp_path / "sq")])
    with pytest.raises(ValueError, match="only 5 samples"):
        main(["--lecture", "05", "--data", "mpii", "--data-root", str(shared_data / "mpii"), "--batch-size", "8",
              "--steps", "1", "--out", str(tmp_path / "big")])
    with pytest.raises(FileNotFoundError, match="--weights: no file"):
        main(["--lecture", "01", "--weights", str(tmp_path / "missing.pth"), "--val-size", "2",
              "--out", str(tmp_path / "w")])


def test_input_norm_hook_keeps_the_state_dict():
    from posecourse.train.weights import NORMS, input_norm

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2, 1)
    plain = {k: v.clone() for k, v in conv.state_dict().items()}
    x = torch.rand(2, 3, 4, 4)
    want = conv(x.flip(1) * 255 / 256 - 0.5)  # pytorch-openpose: BGR uint8 / 256 - 0.5
    input_norm(conv, NORMS["openpose"])
    torch.testing.assert_close(conv(x), want)
    assert all(torch.equal(conv.state_dict()[k], v) for k, v in plain.items())


# --- issue 24: the command never loses work, and refuses bad input before the first step -----------------

_FAST = ["--steps", "2", "--batch-size", "2", "--val-size", "2", "--no-progress"]


def test_evaluating_into_a_training_folder_keeps_its_outputs(tmp_path):
    """``--weights R/checkpoint.pt --out R`` writes eval_metrics.json beside the run; metrics.json (the only
    copy of the loss curve) and the checkpoint stay byte for byte. DeepPose's regression codec has no flip
    test: the evaluation runs without it and says so (it used to crash)."""
    run = tmp_path / "R"
    assert main(["--lecture", "01_deeppose", *_FAST, "--out", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["--lecture", "01_deeppose", "--weights", str(run / "checkpoint.pt"), "--val-size", "2",
                 "--out", str(run), "--no-progress"]) == 0
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name in before} == before
    ev = json.loads((run / "eval_metrics.json").read_text())
    assert ev["steps"] == 0 and ev["flip_test"] is False and "no flip test" in ev["flip_test_note"]
    assert ev["weights_file"] == str(run / "checkpoint.pt")
    assert len(_metrics(run)["loss_curve"]) == 2
    with pytest.raises(ValueError, match="--flip-test: 01_deeppose's codec"):  # asked for explicitly: refused
        main(["--lecture", "01", "--weights", str(run / "checkpoint.pt"), "--flip-test", "--out", str(run)])


def test_steps_zero_is_an_evaluation_too(tmp_path):
    assert main(["--lecture", "01", *_FAST, "--out", str(tmp_path)]) == 0
    curve = _metrics(tmp_path)["loss_curve"]
    assert main(["--lecture", "01", "--steps", "0", "--val-size", "2", "--no-progress", "--out", str(tmp_path)]) == 0
    assert _metrics(tmp_path)["loss_curve"] == curve and (tmp_path / "eval_metrics.json").is_file()


@pytest.mark.parametrize("lr", ["0", "-1e-3", "inf", "nan", "1e30"])
def test_learning_rate_must_be_finite_and_positive(tmp_path, lr, capsys):
    with pytest.raises(SystemExit):
        main(["--lecture", "01", *_FAST, f"--lr={lr}", "--out", str(tmp_path)])
    assert "--lr: expected a learning rate" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_bad_out_fails_before_any_work(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="--out: .*afile is a file"):
        main(["--lecture", "01", *_FAST, "--out", str(afile)])
    with pytest.raises(ValueError, match="--out: cannot create"):
        main(["--lecture", "01", *_FAST, "--out", str(afile / "sub")])
    (tmp_path / "d" / "checkpoint.pt").mkdir(parents=True)
    with pytest.raises(ValueError, match="checkpoint.pt is a folder"):
        main(["--lecture", "01", *_FAST, "--out", str(tmp_path / "d")])


def test_resume_keeps_the_input_normalization(tmp_path):
    """Everything a resume needs is in the checkpoint: a run normalized like HRNet's official weights
    continues with that normalization; asking for another one is refused instead of silently mixing."""
    args = ["--lecture", "01", "--batch-size", "2", "--val-size", "2", "--no-progress", "--out", str(tmp_path)]
    assert main([*args, "--steps", "1", "--input-norm", "imagenet"]) == 0
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["run"]["input_norm"][0] == "rgb"
    assert main([*args, "--steps", "2", "--resume"]) == 0
    m = _metrics(tmp_path)
    assert m["input_norm"] == ["rgb", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]] and m["steps"] == 2
    with pytest.raises(ValueError, match="trained with input normalization"):
        main([*args, "--steps", "3", "--resume", "--input-norm", "none"])


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a checkpoint at all\n"])
def test_unreadable_files_are_named_in_every_loading_path(tmp_path, content):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(content)
    for argv, out in ((["--weights", str(bad)], "e"), (["--init", str(bad), "--steps", "1"], "i"),
                      (["--resume", "--steps", "1"], ".")):
        with pytest.raises(ValueError, match=f"{argv[0]}: {bad}"):
            main(["--lecture", "01", "--val-size", "2", "--batch-size", "2", "--no-progress",
                  "--out", str(tmp_path / out), *argv])
    assert bad.read_bytes() == content  # nothing was written over it


def test_weights_of_another_lecture_are_named(tmp_path):
    run = tmp_path / "dp"
    assert main(["--lecture", "01", *_FAST, "--out", str(run)]) == 0
    with pytest.raises(ValueError, match="--weights: .* holds weights of another model .*lecture 01_deeppose"):
        main(["--lecture", "02_cpm", "--weights", str(run / "checkpoint.pt"), "--val-size", "2",
              "--out", str(tmp_path / "e")])
    with pytest.raises(ValueError, match="--resume: .* is a run of lecture 01_deeppose"):
        main(["--lecture", "02_cpm", "--steps", "3", "--resume", "--out", str(run)])


@pytest.mark.parametrize("payload", [[], [1, 2], "text", {"images": "x"}, {"images": [1]}])
def test_wrong_format_annotation_file_gives_the_loaders_error(tmp_path, payload):
    """docs/loaders.md: a file of the wrong format is a ValueError naming it, also through the command."""
    (tmp_path / "ann.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="ann.json"):
        main(["--lecture", "03", "--data", "coco", "--data-root", str(tmp_path), "--steps", "1",
              "--out", str(tmp_path / "o")])


@pytest.mark.slow
@pytest.mark.parametrize("lecture", list(LECTURES))
def test_weights_evaluate_every_lectures_shipped_checkpoint(tmp_path, lecture):
    """``--weights`` works for every lecture; the flip test is on exactly where the codec has one."""
    from posecourse.lectures.shipped import checkpoint_path

    shipped = checkpoint_path(lecture)
    if not shipped.exists():
        pytest.skip(f"no shipped checkpoint at {shipped}")
    assert main(["--lecture", lecture, "--weights", str(shipped), "--val-size", "4", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    ev = json.loads((tmp_path / "eval_metrics.json").read_text())
    assert ev["flip_test"] is get_lecture(lecture).codec.flip_test and 0 <= ev["eval"]["value"] <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval_metrics.json"]


def test_missing_image_folder_is_named_before_any_work(tmp_path, shared_data):
    with pytest.raises(FileNotFoundError, match="--img-dir: .*nowhere is not a folder"):
        main(["--lecture", "03", "--data", "coco", "--data-root", str(shared_data / "coco"), "--img-dir",
              str(tmp_path / "nowhere"), "--steps", "1", "--batch-size", "1", "--out", str(tmp_path / "o")])
    assert not any((tmp_path / "o").iterdir())


def test_a_new_run_never_overwrites_another_runs_metrics(tmp_path):
    (tmp_path / "metrics.json").write_text('{"loss_curve": [1.0]}')  # a run whose checkpoint was moved away
    with pytest.raises(ValueError, match="holds another run's results"):
        main(["--lecture", "01", *_FAST, "--out", str(tmp_path)])
    assert (tmp_path / "metrics.json").read_text() == '{"loss_curve": [1.0]}'


@pytest.mark.slow
def test_resumed_fine_tune_from_official_weights_keeps_their_conventions(shared_data, shared_reference, tmp_path):
    """Issue 24: a fine-tune from official HRNet weights, resumed, used to lose its input normalization;
    the checkpoint now carries it (and that the weights were official: integer-centred heatmaps)."""
    layout = json.loads((shared_reference / "hrnet_w32_state_dict.json").read_text())
    g = torch.Generator().manual_seed(0)
    state = {k: (torch.zeros((), dtype=torch.long) if k.endswith("num_batches_tracked")
                 else torch.ones(shape) if k.endswith("running_var")
                 else 0.01 * torch.randn(*shape, generator=g)) for k, shape in layout}
    official = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(state, official)
    out = tmp_path / "ft"
    args = ["--lecture", "05_hrnet", "--preset", "paper", "--input-size", "64", "--data", "coco", "--data-root",
            str(shared_data / "coco"), "--batch-size", "2", "--out", str(out), "--no-progress"]
    assert main([*args, "--init", str(official), "--steps", "1"]) == 0
    assert main([*args, "--resume", "--steps", "2"]) == 0
    m = _metrics(out)
    assert m["steps"] == 2 and m["official_weights"] is True
    assert m["input_norm"] == ["rgb", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]
    assert "integer-centred" in m["eval"]["conventions"]
