"""Training throughput of the papers' models: forward + backward images per second.

    python benchmarks/bench_models.py                 # all paper models on the current device
    python benchmarks/bench_models.py --quick         # CPU sanity run: batch 1, 1 timed step
    python benchmarks/bench_models.py --models hrnet_w32 cpm --batch-size 32 --channels-last

On CUDA every model runs in fp32 and under autocast (bf16 where supported, else fp16), and the table
gives the AMP speed-up measured in the same run. Prints a markdown table headed by the device name.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from posecourse.models import create_model, model_card  # noqa: E402
from posecourse.utils import resolve_device  # noqa: E402

# name -> default GPU batch (the input size is the model card's)
PAPER_MODELS = {"hrnet_w32": 64, "hrnet_w48": 64, "hourglass_2": 32, "hourglass_8": 16, "openpose_vgg19": 16, "cpm": 16,
                "deeppose_alexnet": 128}


def _tensors(out):
    if isinstance(out, torch.Tensor):
        yield out
    elif isinstance(out, dict):
        for v in out.values():
            yield from _tensors(v)
    elif isinstance(out, (list, tuple)):
        for v in out:
            yield from _tensors(v)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(model, images, amp_dtype=None, warmup=3, steps=10) -> float:
    """Forward + backward (a mean-square loss over every output) ``steps`` times after ``warmup``; images/s."""
    device = images.device

    def step():
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(images)
        loss = sum(t.float().square().mean() for t in _tensors(out))
        loss.backward()
        model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * images.shape[0] / (time.perf_counter() - t)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(PAPER_MODELS), help="subset of " + ", ".join(PAPER_MODELS))
    p.add_argument("--batch-size", type=int, default=None, help="default: per model on GPU, 2 on CPU")
    p.add_argument("--device", default="auto")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="batch 1, 1 warm-up and 1 timed step")
    args = p.parse_args(argv)
    unknown = set(args.models) - set(PAPER_MODELS)
    if unknown:
        p.error(f"--models: unknown {sorted(unknown)}; choose from {list(PAPER_MODELS)}")

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device.type} ({torch.get_num_threads()} threads)"
    warmup, steps = (1, 1) if args.quick else (3, args.steps)
    amp = None
    if device.type == "cuda":
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    print(f"## Forward + backward throughput on {name}, torch {torch.__version__}"
          f"{', channels_last' if args.channels_last else ''}\n")
    header = "| model | input | batch | params (M) | fp32 img/s |"
    if amp is not None:
        header += f" {str(amp).split('.')[-1]} AMP img/s | AMP speed-up |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for m in args.models:
        (H, W), gpu_batch = model_card(m).input_size, PAPER_MODELS[m]
        batch = args.batch_size or (1 if args.quick else gpu_batch if device.type == "cuda" else 2)
        try:
            model = create_model(m).to(device).train()
        except ValueError as e:  # a model file not written yet
            print(f"| {m} | {H}x{W} | - | - | not available: {e} |".split(";")[0] + " |")
            continue
        fmt = torch.channels_last if args.channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        x = torch.randn(batch, 3, H, W, device=device).to(memory_format=fmt)
        params = sum(q.numel() for q in model.parameters()) / 1e6
        row = f"| {m} | {H}x{W} | {batch} | {params:.1f} | "
        try:
            fp32 = images_per_second(model, x, None, warmup, steps)
            row += f"{fp32:.1f} |"
            if amp is not None:
                half = images_per_second(model, x, amp, warmup, steps)
                row += f" {half:.1f} | {half / fp32:.2f}x |"
        except torch.OutOfMemoryError:
            row += " out of memory (lower --batch-size) |"
        print(row, flush=True)
        del model, x
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
