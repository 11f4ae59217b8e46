"""Distributed training for real: the command under ``torchrun --nproc_per_node=2`` (gloo, CPU) against one
process at the same global batch, and the DistributedSampler split it relies on."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.train.run import EpochSampler
from paths import ROOT

ARGS = ["--lecture", "04_openpose", "--data", "synthetic", "--steps", "4", "--batch-size", "4", "--val-size", "4",
        "--seed", "3"]
# OpenPose's paper model (VGG-19 trunk, here at 64 px) has no BatchNorm and its loss weighs every pixel alike, so two
# processes of batch 2 compute exactly the gradients of one process of batch 4. The course's openpose_tiny has
# BatchNorm: each process normalizes by its own half-batch's statistics (as DDP without SyncBatchNorm does on real
# clusters too), so it is not exact.
EXACT = ["--preset", "paper", "--input-size", "64", "--lr", "1e-4"]


def _run(cmd, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _launch(out, args):
    one = _run([sys.executable, "-m", "posecourse.train", *args, "--out", str(out / "one")])
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "-m", "posecourse.train", *args, "--out", str(out / "two")])
    return {"one": (out / "one", one), "two": (out / "two", two)}


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    """One process of the course's own model (openpose_tiny), which DDP cannot match exactly (its BatchNorm)."""
    out = tmp_path_factory.mktemp("ddp_course")
    _run([sys.executable, "-m", "posecourse.train", *ARGS, "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def exact_runs(tmp_path_factory):
    return _launch(tmp_path_factory.mktemp("ddp_exact"), ARGS + EXACT)


def _metrics(path):
    return json.loads((path / "metrics.json").read_text())


@pytest.mark.slow
def test_two_processes_follow_the_single_process_loss_curve(course_run, exact_runs):
    course = _metrics(course_run)["loss_curve"]
    assert course[-1] < course[0]  # the course's run (openpose_tiny) learns
    one, two = _metrics(exact_runs["one"][0]), _metrics(exact_runs["two"][0])
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert (one["batch_per_process"], two["batch_per_process"]) == (4, 2)
    assert len(one["loss_curve"]) == len(two["loss_curve"]) == 4
    np.testing.assert_allclose(two["loss_curve"], one["loss_curve"], rtol=1e-4)


@pytest.mark.slow
def test_one_checkpoint_with_the_same_weights(exact_runs):
    (d1, _), (d2, _) = exact_runs["one"], exact_runs["two"]
    assert sorted(p.name for p in d2.iterdir()) == ["checkpoint.pt", "metrics.json"]
    a = torch.load(d1 / "checkpoint.pt", weights_only=True)
    b = torch.load(d2 / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 4 and b["run"]["world_size"] == 2
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=1e-4, atol=1e-5, msg=k)


@pytest.mark.slow
def test_no_sample_is_seen_twice_in_an_epoch(exact_runs):
    one, two = _metrics(exact_runs["one"][0]), _metrics(exact_runs["two"][0])
    assert two["samples"] == {"dataset_size": 16, "seen_first_epoch": 16, "unique_first_epoch": 16,
                              "duplicates_first_epoch": 0, "per_process": [8, 8]}
    assert one["samples"]["unique_first_epoch"] == 16 and one["samples"]["per_process"] == [16]


@pytest.mark.slow
def test_progress_bar_on_rank_zero_only(exact_runs):
    _, proc = exact_runs["two"]
    text = proc.stdout + proc.stderr  # the bar's stream is train()'s choice
    assert len(re.findall(r"train:\s+0%", text)) == 1  # one bar starts (tqdm draws 0% once per bar)
    assert re.search(r"train:\s+100%", text)
    assert proc.stdout.count("04_openpose on synthetic") == 1  # the summary line comes from rank 0 alone


@settings(deadline=None, max_examples=30)
@given(n=st.integers(1, 60), world=st.integers(1, 4), batch=st.integers(1, 5), seed=st.integers(0, 99),
       epoch=st.integers(0, 3))
def test_sampler_split_is_disjoint_and_matches_one_process(n, world, batch, seed, epoch):
    """Each process takes every world-th index of one shared permutation: disjoint, nothing repeated
    (the n % world left-over is skipped), and step t's union over processes is one process's batch t."""
    data = list(range(n))
    ranks = []
    for r in range(world):
        s = EpochSampler(data, world, r, seed)
        s.set_epoch(epoch)
        ranks.append(list(s))
    single = EpochSampler(data, 1, 0, seed)
    single.set_epoch(epoch)
    order = list(single)
    flat = [i for r in ranks for i in r]
    assert len(flat) == len(set(flat)) == (n // world) * world
    assert set(flat) == set(order[:(n // world) * world])
    steps = (n // world) // batch
    for t in range(steps):
        union = sorted(i for r in ranks for i in r[t * batch:(t + 1) * batch])
        assert union == sorted(order[t * batch * world:(t + 1) * batch * world])


def test_sampler_tells_the_dataset_its_epoch():
    class Data(list):
        epoch = None

        def set_epoch(self, e):
            self.epoch = e

    d = Data(range(10))
    s = EpochSampler(d, 2, 1, 0)
    s.set_epoch(7)
    assert d.epoch == 7
