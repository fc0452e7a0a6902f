"""Throughput of the image path on CPU: render cost vs model cost, and the cores a GPU would need.

Measures (one thread each): (1) on-the-fly render + preprocessing ms/image at the model input size
with random layout/style/degradation specs, vs reading the same kind of pages from WebDataset shards
(`ecg-render --format wds`, decode + letterbox); (2) model training ms/image (forward+backward+step) for
the CPU demo model and for EfficientNet-B3 at 300 px; (3) end-to-end training images/s with
rendering inside DataLoader workers; (4) EfficientNet-B3 FLOPs per image (torch FLOP counter) and,
for an assumed GPU throughput, how many CPU cores of rendering keep a batch-256 step fed.

    .venv/bin/python benchmarks/image_speed.py [--renders 24] [--gpu-tflops 100]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

torch.set_num_threads(1)

from ecgimg.data import synthetic_cohort  # noqa: E402
from ecgimg.data.images import RenderedImages  # noqa: E402
from ecgimg.data.pairs import PatientViewSampler, ViewLoader  # noqa: E402
from ecgimg.models.image import timm_model  # noqa: E402
from ecgimg.ssl.bcl import BCLObjective  # noqa: E402


def cpu_seconds(fn) -> tuple[float, float]:
    """(wall s, this-process CPU s): CPU time is the fair figure on a shared, oversubscribed machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def render_cost(records, image_size: int, n: int, degrade: bool) -> float:
    """CPU s per rendered, letterboxed, normalised image (warm caches: one render first)."""
    kwargs = {} if degrade else {"degrade_strength": None}
    ds = RenderedImages(records, image_size=image_size, seed=1, spec_kwargs=kwargs)
    ds[(0, 99, 0)]
    keys = [(i % len(records), i, 0) for i in range(n)]
    _, cpu = cpu_seconds(lambda: [ds[k] for k in keys])
    return cpu / n


def shard_cost(image_size: int, n_patients: int) -> float:
    """CPU s per image read from shards (PNG decode + letterbox + normalise), pages at 2x the input size."""
    import tempfile
    from pathlib import Path

    from ecgimg.data import synthetic_cohort_cache
    from ecgimg.data.page_stream import PageStream, ShardSource
    from ecgimg.pages import cli
    with tempfile.TemporaryDirectory() as tmp:
        cache = synthetic_cohort_cache(Path(tmp) / "cache", n_patients=n_patients, ecgs_per_patient=2, seed=0)
        cli.main([str(cache.path), "-o", f"{tmp}/wds", "--format", "wds", "--random", "--views", "2",
                  "--size", str(2 * image_size), "--no-progress"])
        stream = PageStream(ShardSource(f"{tmp}/wds"), batch_size=8, image_size=image_size)
        _, cpu = cpu_seconds(lambda: [b for b in stream])
    return cpu / (4 * n_patients)


def train_cost(name: str, image_size: int, batch: int, steps: int) -> float:
    """CPU s per image of a BCL training step (forward, backward, AdamW step)."""
    model = timm_model(name)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, image_size, image_size)
    ids = torch.arange(batch) // 2
    objective = BCLObjective()

    def step():
        out = objective(model, {"image": x, "patient": ids})
        out["loss"].backward()
        opt.step()
        opt.zero_grad()

    step()  # warm-up (allocator, cudnn-free CPU kernels)
    _, cpu = cpu_seconds(lambda: [step() for _ in range(steps)])
    return cpu / (steps * batch)


def end_to_end(records, image_size: int, steps: int, workers: int) -> float:
    """Training images/s (wall) of the demo model with rendering in DataLoader workers."""
    ds = RenderedImages(records, image_size=image_size, seed=2)
    sampler = PatientViewSampler(ds.patient_of_position, patients_per_batch=8, seed=0)
    loader = ViewLoader(ds, sampler, num_workers=workers, persistent_workers=workers > 0)
    model = timm_model("resnet10t")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    objective = BCLObjective()
    seen, t0 = 0, None
    for epoch in range(100):
        loader.set_epoch(epoch)
        for batch in loader:
            if t0 is None:  # exclude worker start-up
                t0 = time.perf_counter()
                continue
            objective(model, batch)["loss"].backward()
            opt.step()
            opt.zero_grad()
            seen += len(batch["image"])
            if seen >= steps * 16:
                return seen / (time.perf_counter() - t0)
    return seen / (time.perf_counter() - t0)


def b3_flops_per_image() -> float:
    from torch.utils.flop_counter import FlopCounterMode
    model = timm_model("efficientnet_b3").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 300, 300), head="features")
    return float(counter.get_total_flops())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--renders", type=int, default=24)
    ap.add_argument("--gpu-tflops", type=float, default=100.0,
                    help="assumed sustained GPU training throughput (A100 bf16 peak 312; ~1/3 of peak "
                         "is typical for EfficientNet's depthwise convolutions)")
    ap.add_argument("--gpu-images-per-s", type=float, default=1500.0,
                    help="assumed realistic B3 training rate at 300 px with AMP on an A100 (depthwise "
                         "convolutions are memory-bound, so the FLOP-bound rate is an upper limit)")
    ap.add_argument("--skip-e2e", action="store_true")
    args = ap.parse_args(argv)
    records = synthetic_cohort(12, 2, seed=0)

    print("== render cost (CPU s per image, 1 thread, random specs) ==")
    render_ms = {}
    for size in (128, 300):
        for degrade in (False, True):
            ms = 1000 * render_cost(records, size, args.renders, degrade)
            render_ms[(size, degrade)] = ms
            print(f"{size:4d} px  {'degraded' if degrade else 'clean   '}  {ms:7.1f} ms/image")
    for size in (128, 300):
        print(f"{size:4d} px  from shards {1000 * shard_cost(size, max(2, args.renders // 4)):7.1f} ms/image "
              f"(random pages written at {2 * size} px, PNG decode + letterbox)")

    print("\n== model cost (CPU s per image: BCL forward+backward+AdamW, 1 thread) ==")
    small_ms = 1000 * train_cost("resnet10t", 128, batch=16, steps=2)
    b3_ms = 1000 * train_cost("efficientnet_b3", 300, batch=4, steps=1)
    print(f"resnet10t       128 px  {small_ms:7.1f} ms/image")
    print(f"efficientnet_b3 300 px  {b3_ms:7.1f} ms/image")
    total = render_ms[(128, True)] + small_ms
    print(f"\nCPU-only demo (render 128 px degraded + resnet10t train): {total:.0f} ms/image on one core "
          f"-> {1000 / total:.1f} images/s/core; render share {render_ms[(128, True)] / total:.0%}")
    if not args.skip_e2e:
        ips = end_to_end(records, 128, steps=6, workers=1)
        print(f"measured end-to-end (1 render worker + 1 training thread): {ips:.1f} images/s (wall, shared machine)")

    print("\n== feeding a GPU: EfficientNet-B3, 300 px, batch 256 ==")
    fwd = b3_flops_per_image()
    train_flops = 3 * fwd  # backward ~ 2x forward
    step_s = 256 * train_flops / (args.gpu_tflops * 1e12)
    gpu_ips = 256 / step_s
    render_s = render_ms[(300, True)] / 1000
    print(f"forward {fwd / 1e9:.2f} GFLOP/image (FLOP counter; 2 FLOP per MAC); training ~{train_flops / 1e9:.1f} GFLOP/image")
    print(f"assumed GPU {args.gpu_tflops:.0f} TFLOP/s sustained -> step {step_s * 1000:.0f} ms, {gpu_ips:.0f} images/s")
    for label, rate in (("FLOP-bound", gpu_ips), ("assumed realistic", args.gpu_images_per_s)):
        print(f"{label:>17s}: {rate:6.0f} images/s (batch-256 step {256 / rate * 1000:.0f} ms) -> "
              f"{rate * render_s:.0f} render cores (degraded 300 px, {render_s * 1000:.0f} ms/image/core); "
              f"clean pages {rate * render_ms[(300, False)] / 1000:.0f} cores")


if __name__ == "__main__":
    main()
