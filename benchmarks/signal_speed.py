"""Cost of the signal models: parameters, GFLOPs per sample, and CPU training throughput.

1. For every ViT size: encoder parameters, GFLOPs per 12 x 5000 sample (counted with
   ``torch.utils.flop_counter.FlopCounterMode`` on the meta device: no memory, exact op counts,
   FLOPs = 2 x multiply-adds) for a full-sequence forward, a full-sequence forward+backward
   (fine-tuning), an MAE step (forward+backward with 75% masking, paper's 512-d x 8 decoder),
   and the MAE step relative to the full-sequence forward+backward of the same encoder (whole
   step with decoder, and the encoder on the 25% visible tokens alone: the MAE trick itself).
2. For tiny and small: measured CPU samples/s of an MAE step (paper decoder and the 128-d x 2
   CPU decoder used in benchmarks/mae_learns.py), a full fine-tune step (classifier, BCE) and
   the same full-sequence encoder step, plus the measured MAE / full-sequence time ratio.
   Wall-clock figures depend on how busy the machine is; the FLOP table does not.

    .venv/bin/python benchmarks/signal_speed.py --threads 1 --batch 8
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ecgimg.models import create_model
from ecgimg.models.signal import VIT_SIZES

CPU_DECODER = dict(decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4)


def count_flops(step) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / 1e9


def flop_table() -> None:
    print("size  | params (M) | GFLOPs/sample: full fwd | full fwd+bwd | MAE step (512x8 dec) | MAE / full"
          " | visible-only encoder fwd+bwd / full")
    for size in VIT_SIZES:
        with torch.device("meta"):
            mae = create_model(f"mae_ecg_vit_{size}_p250")
            classifier = create_model(f"ecg_vit_{size}_p250", num_classes=1)
            x = torch.empty(1, 12, 5000)
        params = sum(p.numel() for p in classifier.encoder.parameters()) / 1e6
        forward = count_flops(lambda: classifier(x))
        full_step = count_flops(lambda: classifier(x).sum().backward())
        mae_step = count_flops(lambda: mae(x)[0].backward())
        visible = count_flops(lambda: mae.forward_encoder(mae.encoder.normalize(x), 0.75)[0].sum().backward())
        print(f"{size:5s} | {params:10.1f} | {forward:23.1f} | {full_step:12.1f} | {mae_step:20.1f} | "
              f"{mae_step / full_step:9.2f}x | {visible / full_step:6.2f}x")


def samples_per_second(model, step, batch: int, repeats: int) -> float:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def one() -> None:
        optimizer.zero_grad(set_to_none=True)
        step().backward()
        optimizer.step()

    one()  # warm-up (allocations, kernel selection)
    start = time.perf_counter()
    for _ in range(repeats):
        one()
    return batch * repeats / (time.perf_counter() - start)


def throughput_table(batch: int, repeats: int) -> None:
    print(f"\nCPU training throughput, batch {batch}, {torch.get_num_threads()} thread(s), samples/s:")
    print("size  | MAE step (512x8 dec) | MAE step (128x2 dec) | full fine-tune | MAE(512x8)/full time | MAE(128x2)/full time")
    x = torch.randn(batch, 12, 5000)
    target = torch.randint(0, 2, (batch, 1)).float()
    for size in ("tiny", "small"):
        torch.manual_seed(0)
        mae = create_model(f"mae_ecg_vit_{size}_p250")
        mae_light = create_model(f"mae_ecg_vit_{size}_p250", **CPU_DECODER)
        classifier = create_model(f"ecg_vit_{size}_p250", num_classes=1)
        mae_rate = samples_per_second(mae, lambda: mae(x)[0], batch, repeats)
        light_rate = samples_per_second(mae_light, lambda: mae_light(x)[0], batch, repeats)
        full_rate = samples_per_second(
            classifier, lambda: F.binary_cross_entropy_with_logits(classifier(x), target), batch, repeats)
        print(f"{size:5s} | {mae_rate:20.2f} | {light_rate:20.2f} | {full_rate:14.2f} | "
              f"{full_rate / mae_rate:20.2f} | {full_rate / light_rate:20.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flop_table()
    if not args.skip_throughput:
        throughput_table(args.batch, args.repeats)


if __name__ == "__main__":
    main()
