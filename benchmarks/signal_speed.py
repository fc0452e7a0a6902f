"""Cost of the signal models: parameters, GFLOPs per sample, and the MAE step vs a full-sequence step.

1. FLOP table, every ViT size (counted with ``torch.utils.flop_counter.FlopCounterMode`` on the
   meta device: no memory, exact op counts, FLOPs = 2 x multiply-adds): full-sequence forward,
   full-sequence forward+backward (fine-tuning), an MAE step with the size's default decoder
   (`ecgimg.models.signal.mae.default_decoder`) and with the paper's 512-d x 8 decoder, and each
   MAE step relative to the full-sequence step of the same encoder.
2. Wall clock, same run, tiny / small / base / large: samples/s of an MAE step (default decoder,
   75% masking), of a full-sequence fine-tuning step (classifier, BCE), and their time ratios,
   forward + backward alone and with the AdamW update (goal: < 1 at every size, <= 0.35 at large). Wall-clock figures depend on how busy the machine
   is (both steps share the conditions of the run); the FLOP table does not.

    .venv/bin/python benchmarks/signal_speed.py --threads 1
    .venv/bin/python benchmarks/signal_speed.py --sizes large --batch 8 --precision bf16

`--batch` replaces the per-size batch (at batch 2 a ViT-L step on CPU is bound by reading its
weights, not by compute, which flatters the full-sequence step); `--precision bf16` runs both
steps under CPU bf16 autocast (AMX), as `train.precision=fast` does.
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ecgimg.models import create_model
from ecgimg.models.signal import VIT_SIZES
from ecgimg.models.signal.mae import default_decoder

PAPER_DECODER = dict(decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
#: batch per size for the wall-clock table: large is ~50x tiny per sample on a CPU core
WALL_BATCH = {"tiny": 16, "small": 8, "base": 4, "large": 2}


def count_flops(step) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / 1e9


def flop_table() -> None:
    print("size  | params (M) | default decoder | GFLOPs/sample: full fwd | full fwd+bwd | MAE step "
          "| MAE/full | MAE step (512x8 dec) | MAE(512x8)/full")
    for size in VIT_SIZES:
        with torch.device("meta"):
            mae = create_model(f"mae_ecg_vit_{size}_p250")
            mae_paper = create_model(f"mae_ecg_vit_{size}_p250", **PAPER_DECODER)
            classifier = create_model(f"ecg_vit_{size}_p250", num_classes=1)
            x = torch.empty(1, 12, 5000)
        params = sum(p.numel() for p in classifier.encoder.parameters()) / 1e6
        forward = count_flops(lambda: classifier(x))
        full_step = count_flops(lambda: classifier(x).sum().backward())
        mae_step = count_flops(lambda: mae(x)[0].backward())
        paper_step = count_flops(lambda: mae_paper(x)[0].backward())
        dims, depth = VIT_SIZES[size][0], VIT_SIZES[size][1]
        dec = default_decoder(dims, depth)
        decoder = f"{dec['decoder_embed_dim']}x{dec['decoder_depth']}"
        print(f"{size:5s} | {params:10.1f} | {decoder:>15s} | {forward:23.1f} | {full_step:12.1f} | "
              f"{mae_step:8.1f} | {mae_step / full_step:7.2f}x | {paper_step:20.1f} | "
              f"{paper_step / full_step:14.2f}x")


def seconds_per_step(model, step, repeats: int, precision: str = "fp32") -> tuple[float, float]:
    """Median wall seconds of (forward + backward, the whole optimiser step incl. AdamW) after a
    warm-up. AdamW's update costs the same per step whatever the batch, so at the small batches
    a CPU affords it weighs more than it would at a GPU's batch; both are reported."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def one() -> tuple[float, float]:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
              else contextlib.nullcontext()):
            loss = step()
        loss.float().backward()
        compute = time.perf_counter() - start
        optimizer.step()
        return compute, time.perf_counter() - start

    one()  # warm-up (allocations, kernel selection)
    times = sorted(one() for _ in range(repeats))
    return times[len(times) // 2]


def wall_table(sizes: list[str], repeats: int, batch: int | None = None, precision: str = "fp32") -> None:
    print(f"\nWall clock, {torch.get_num_threads()} thread(s), {precision}, median of {repeats} steps "
          "(MAE: default decoder, 75% masking; full: classifier fine-tuning step):")
    print("size  | batch | MAE samples/s | full samples/s | MAE/full fwd+bwd | MAE/full step incl. AdamW")
    for size in sizes:
        batch_size = batch or WALL_BATCH[size]
        torch.manual_seed(0)
        x = torch.randn(batch_size, 12, 5000)
        target = torch.randint(0, 2, (batch_size, 1)).float()
        mae = create_model(f"mae_ecg_vit_{size}_p250")
        classifier = create_model(f"ecg_vit_{size}_p250", num_classes=1)
        mae_compute, mae_s = seconds_per_step(mae, lambda: mae(x)[0], repeats, precision)
        full_compute, full_s = seconds_per_step(
            classifier, lambda: F.binary_cross_entropy_with_logits(classifier(x).float(), target),
            repeats, precision)
        print(f"{size:5s} | {batch_size:5d} | {batch_size / mae_s:13.2f} | {batch_size / full_s:14.2f} | "
              f"{mae_compute / full_compute:15.2f}x | {mae_s / full_s:24.2f}x")
        del mae, classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=list(WALL_BATCH), choices=list(WALL_BATCH))
    parser.add_argument("--batch", type=int, help="one batch for every size (default: per size)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--skip-wall", action="store_true")
    parser.add_argument("--skip-flops", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_flops:
        flop_table()
    if not args.skip_wall:
        wall_table(args.sizes, args.repeats, args.batch, args.precision)


if __name__ == "__main__":
    main()
