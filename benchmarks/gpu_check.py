"""The CUDA path, measured in one run: MAE ViT-L steps in bf16 with and without torch.compile (and the
MAE step's time over a full-sequence fine-tuning step of the same encoder), BCL on
EfficientNet-B3 at 300 px fed by render workers and by shards, peak memory, a torchrun NCCL launch,
and an exact resume on the device. Prints one compact table; ends well inside 10 minutes.

    python benchmarks/gpu_check.py                 # on a CUDA machine
    python benchmarks/gpu_check.py --dry           # CPU: tiny sizes, gloo, compile backend "eager"

Without CUDA it runs the dry mode (the test suite does, so the script cannot rot). DDP: NCCL needs
one GPU per rank, so with one GPU the launch is a single NCCL rank (the collectives still run);
with two or more it uses two ranks. Figures are steady-state rates after warm-up steps.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

FULL = {"mae": "mae_ecg_vit_large_p250", "mae_kwargs": {}, "mae_batch": 64, "mae_steps": 8, "cnn": "efficientnet_b3", "px": 300,
        "patients": 32, "bcl_batches": 12, "cohort": 256, "resume_cnn": "resnet18", "resume_px": 128}
DRY = {"mae": "mae_ecg_vit_tiny_p250", "mae_kwargs": {"decoder_embed_dim": 32, "decoder_depth": 1}, "mae_batch": 2,
       "mae_steps": 1, "cnn": "resnet10t", "px": 64,
       "patients": 2, "bcl_batches": 2, "cohort": 6, "resume_cnn": "resnet10t", "resume_px": 48}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else "-"


def mae_rate(cfg: dict, device: torch.device, precision: str, compile_backend: str | None) -> tuple[float, float, str]:
    """(samples/s, s spent in warm-up incl. compilation, peak memory) of MAE training steps."""
    from ecgimg.models import create_model
    from ecgimg.train.runtime import autocast_context

    torch.manual_seed(0)
    model = create_model(cfg["mae"], **cfg["mae_kwargs"]).to(device)
    step_model = torch.compile(model, backend=compile_backend) if compile_backend else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    x = torch.randn(cfg["mae_batch"], 12, 5000, device=device)

    def step():
        with autocast_context(precision, device):
            loss = step_model(x)[0]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    reset_peak(device)
    rate, warm = steps_per_s(step, cfg, device)
    return rate, warm, peak_gib(device)


def steps_per_s(step, cfg: dict, device: torch.device) -> tuple[float, float]:
    """(samples/s of `cfg["mae_steps"]` calls of `step` after 2 warm-up calls, warm-up seconds)."""
    t0 = time.perf_counter()
    for _ in range(2):  # warm-up: allocator, cuDNN/cuBLAS heuristics, compilation
        step()
    sync(device)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(cfg["mae_steps"]):
        step()
    sync(device)
    return cfg["mae_batch"] * cfg["mae_steps"] / (time.perf_counter() - t0), warm


def full_step_rate(cfg: dict, device: torch.device, precision: str) -> float:
    """Samples/s of a full-sequence fine-tuning step (classifier on all tokens, BCE) of the MAE's
    encoder, the denominator of the issue's MAE/full step-time ratio (goal <= 0.35 at ViT-L)."""
    import torch.nn.functional as F

    from ecgimg.models import create_model
    from ecgimg.train.runtime import autocast_context

    torch.manual_seed(0)
    model = create_model(cfg["mae"].removeprefix("mae_"), num_classes=1).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    x = torch.randn(cfg["mae_batch"], 12, 5000, device=device)
    target = torch.randint(0, 2, (cfg["mae_batch"], 1), device=device).float()

    def step():
        with autocast_context(precision, device):
            loss = F.binary_cross_entropy_with_logits(model(x).float(), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return steps_per_s(step, cfg, device)[0]


def bcl_rate(cfg: dict, device: torch.device, precision: str, loader, n_batches: int) -> tuple[float, str]:
    """Images/s of BCL training steps fed by `loader` (an iterable of batches), after one warm-up batch."""
    from ecgimg.models.image import timm_model
    from ecgimg.ssl.bcl import BCLObjective
    from ecgimg.train.runtime import autocast_context

    torch.manual_seed(0)
    model = timm_model(cfg["cnn"]).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    objective = BCLObjective()
    reset_peak(device)
    seen, t0 = 0, None
    for k, batch in enumerate(loader):
        batch = {key: v.to(device, non_blocking=True) for key, v in batch.items() if torch.is_tensor(v)}
        batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
        with autocast_context(precision, device):
            loss = objective(model, batch)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if k == 0:
            sync(device)
            t0 = time.perf_counter()
            continue
        seen += len(batch["image"])
        if k >= n_batches:
            break
    sync(device)
    return seen / (time.perf_counter() - t0), peak_gib(device)


def synthetic_batches(cfg: dict):
    images = torch.randn(2 * cfg["patients"], 3, cfg["px"], cfg["px"])
    patients = torch.arange(cfg["patients"]).repeat_interleave(2)
    while True:
        yield {"image": images, "patient": patients}


def on_the_fly_loader(cfg: dict, workers: int):
    """The pretraining path: RenderedImages (readable pages) + PatientViewSampler + ViewLoader."""
    from ecgimg.data import synthetic_cohort
    from ecgimg.data.images import PAGE_POLICIES, RenderedImages
    from ecgimg.data.pairs import PatientViewSampler, ViewLoader
    from ecgimg.train.loaders import seed_worker

    records = synthetic_cohort(cfg["cohort"], 2, seed=0)
    pages = RenderedImages(records, image_size=cfg["px"], seed=0, **PAGE_POLICIES["readable"])
    sampler = PatientViewSampler(pages.patient_of_position, patients_per_batch=cfg["patients"], seed=0)
    return _epochs(ViewLoader(pages, sampler, num_workers=workers, worker_init_fn=seed_worker,
                              pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0))


def write_shards(cfg: dict, out: Path, workers: int) -> tuple[Path, float]:
    """ecg-render a synthetic cohort into shards (2 views per ECG); returns (folder, pages/s wall)."""
    from ecgimg.data import synthetic_cohort_cache
    from ecgimg.pages import cli

    cache = synthetic_cohort_cache(out / "cache", n_patients=cfg["cohort"], ecgs_per_patient=2, seed=0)
    t0 = time.perf_counter()
    status = cli.main([str(cache.path), "-o", str(out / "wds"), "--format", "wds", "--views", "2", "--random",
                       "--size", str(2 * cfg["px"]), "--workers", str(max(1, workers)), "--no-progress",
                       "--records-per-shard", "64"])
    if status != 0:
        raise RuntimeError("ecg-render failed writing the benchmark shards")
    return out / "wds", 4 * cfg["cohort"] / (time.perf_counter() - t0)


def shard_loader(cfg: dict, folder: Path, workers: int, image_size: int, batch: int):
    from ecgimg.data.page_stream import PageStream, ShardLoader, ShardSource

    stream = PageStream(ShardSource(folder), batch_size=batch, image_size=image_size, seed=0, identity="patient",
                        views=2, crop="grid")
    return ShardLoader(stream, num_workers=workers)


def _epochs(loader):
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def exact_resume(cfg: dict, folder: Path, device: torch.device, precision: str, out: Path) -> str:
    """Engine run of 4 steps vs the same run killed after step 2 and resumed from last.pt."""
    from ecgimg.models.image import timm_model
    from ecgimg.ssl.bcl import BCLObjective
    from ecgimg.train import fit
    from ecgimg.train.config import TrainConfig

    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True

    class Killed(RuntimeError):
        pass

    def run(name: str, kill_at: int | None = None, resume=None):
        calls = {"n": 0}
        bcl = BCLObjective()

        def objective(model, batch):
            calls["n"] += 1
            if calls["n"] == kill_at:
                raise Killed
            return bcl(model, batch)
        torch.manual_seed(0)  # the model is built before fit seeds anything
        model = timm_model(cfg["resume_cnn"])
        config = TrainConfig(max_steps=4, lr=1e-3, out_dir=str(out / name), progress=False, monitor="train_loss",
                             save_every_steps=2, log_every=1, seed=0, precision=precision, device=str(device))
        loader = shard_loader(cfg, folder, 0, cfg["resume_px"], max(2, cfg["patients"] // 4))
        try:
            fit(model, loader, None, config, objective=objective, resume=resume)
        except Killed:
            pass
        losses = {}
        for line in (out / name / "metrics.jsonl").read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "train":
                losses[event["step"]] = event["loss"]
        return losses, torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])

    reference, ref_weights = run("reference")
    run("killed", kill_at=3)
    resumed, weights = run("killed", resume=out / "killed" / "last.pt")
    same = resumed == reference and torch.equal(weights, ref_weights)
    diff = float((weights - ref_weights).abs().max())
    return f"{'exact' if same else 'NOT exact'} ({len(reference)} steps; max |dw| {diff:.1e})"


def ddp_launch(dry: bool, out: Path) -> str:
    """torchrun this script as DDP workers: NCCL on CUDA (one rank per GPU, at most 2), gloo when dry."""
    n_gpus = torch.cuda.device_count() if not dry else 0
    nproc = 2 if dry else min(2, n_gpus)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           __file__, "--ddp-worker", "--out", str(out), *(["--dry"] if dry else [])]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    results = [json.loads(p.read_text()) for p in sorted(out.glob("ddp_rank*.json"))]
    if len(results) != nproc:
        return f"FAILED (rc {proc.returncode}): {proc.stderr.strip().splitlines()[-1:] or proc.stdout[-200:]}"
    agree = len({r["checksum"] for r in results}) == 1
    note = "" if dry or n_gpus >= 2 else "; 1 GPU: one NCCL rank (NCCL cannot put 2 ranks on one GPU)"
    return (f"{results[0]['backend']} x{nproc}: {results[0]['steps']} BCL steps, weights "
            f"{'identical' if agree else 'DIFFER'} on all ranks, {time.perf_counter() - t0:.0f} s wall{note}")


def ddp_worker(args) -> None:
    """One torchrun rank: a few all-gathered BCL steps under DDP, then every rank's weight checksum."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from ecgimg.models.image import timm_model
    from ecgimg.ssl.bcl import BCLObjective

    cfg = DRY if args.dry else FULL
    cuda = torch.cuda.is_available() and not args.dry
    local_rank = int(os.environ["LOCAL_RANK"])
    if cuda:
        torch.cuda.set_device(local_rank)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend)  # also with one rank: the NCCL collectives still run
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    torch.manual_seed(0)
    model = timm_model(cfg["resume_cnn"]).to(device)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)
    opt = torch.optim.AdamW(ddp.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(dist.get_rank())
    for _ in range(3):
        images = torch.randn(8, 3, cfg["resume_px"], cfg["resume_px"], generator=g).to(device)
        batch = {"image": images, "patient": torch.arange(8).div(2, rounding_mode="floor") + 100 * dist.get_rank()}
        BCLObjective()(ddp, batch)["loss"].backward()
        opt.step()
        opt.zero_grad()
    checksum = float(sum(p.double().sum() for p in model.parameters()))
    Path(args.out, f"ddp_rank{dist.get_rank()}.json").write_text(
        json.dumps({"backend": backend, "steps": 3, "checksum": round(checksum, 6)}))
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)  # skip C++ static destructors (gloo's teardown can abort a finished worker)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry", action="store_true", help="CPU dry run at tiny sizes (what the tests run)")
    ap.add_argument("--workers", type=int, default=None, help="render / loader workers (default: cores - 2)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="skip remaining checks past this wall time")
    ap.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args)
    start = time.perf_counter()
    cuda = torch.cuda.is_available() and not args.dry
    if not cuda and not args.dry:
        print("gpu_check: no CUDA device; running the dry mode (tiny sizes, CPU, gloo)")
    dry = not cuda
    if dry:
        torch.set_num_threads(1)  # tiny models: threads only contend
    cfg = DRY if dry else FULL
    device = torch.device("cuda" if cuda else "cpu")
    precision = "bf16" if cuda else "fp32"
    workers = args.workers if args.workers is not None else (1 if dry else max(1, (os.cpu_count() or 4) - 2))
    out = Path(args.out or tempfile.mkdtemp(prefix="gpu_check_"))
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str]] = []
    name = torch.cuda.get_device_name(0) if cuda else "CPU (dry mode)"

    def check(label: str, fn) -> None:
        if time.perf_counter() - start > args.budget_s:
            rows.append((label, "skipped", f"past the {args.budget_s:.0f} s budget"))
            return
        try:
            rows.append((label, *fn()))
        except Exception as exc:  # one failed check must not hide the others' figures
            rows.append((label, "FAILED", f"{type(exc).__name__}: {str(exc)[:160]}"))
        print(f"  {rows[-1][0]}: {rows[-1][1]}  {rows[-1][2]}", flush=True)

    print(f"gpu_check on {name}; torch {torch.__version__}; precision {precision}; {workers} workers")
    backend = "eager" if dry else "inductor"
    eager: dict = {}

    def mae_eager():
        eager["mae"], _, peak = mae_rate(cfg, device, precision, None)
        return f"{eager['mae']:.0f} samples/s", f"peak {peak}"
    check(f"MAE {cfg['mae']} b{cfg['mae_batch']} eager", mae_eager)

    def mae_over_full():
        full = full_step_rate(cfg, device, precision)
        return f"{full / eager['mae']:.2f}x", f"MAE step / full-sequence step time; full {full:.0f} samples/s"
    check("MAE step / full-sequence fine-tuning step, same encoder", mae_over_full)
    label = f"BCL {cfg['cnn']} {cfg['px']} px b{2 * cfg['patients']}"
    check(f"{label}: model only (synthetic tensors)", lambda: (
        lambda r: (f"{r[0]:.0f} images/s", f"peak {r[1]}; upper bound"))(
        bcl_rate(cfg, device, precision, synthetic_batches(cfg), cfg["bcl_batches"])))
    check(f"{label}: on the fly, {workers} render workers", lambda: (
        lambda r: (f"{r[0]:.0f} images/s", f"peak {r[1]}; RenderedImages readable pages"))(
        bcl_rate(cfg, device, precision, on_the_fly_loader(cfg, workers), cfg["bcl_batches"])))
    shards: dict = {}

    def shard_write():
        shards["folder"], rate = write_shards(cfg, out, workers)
        return f"{rate:.0f} pages/s", f"ecg-render --format wds, {workers} workers, wall"
    check("shards: write", shard_write)
    check(f"{label}: from shards, {workers} loader workers", lambda: (
        lambda r: (f"{r[0]:.0f} images/s", f"peak {r[1]}; PageStream, lead-grid crop"))(
        bcl_rate(cfg, device, precision, _epochs(shard_loader(cfg, shards["folder"], workers, cfg["px"],
                                                              cfg["patients"])), cfg["bcl_batches"])))
    check("exact resume (engine, shards, device)", lambda: (
        exact_resume(cfg, shards["folder"], device, precision, out / "resume"), f"{cfg['resume_cnn']}"))
    (out / "ddp").mkdir(exist_ok=True)
    check("torchrun DDP launch", lambda: (ddp_launch(dry, out / "ddp"), ""))
    # last: compilation time is the least predictable part, and the budget check runs before it
    check(f"MAE {cfg['mae']} torch.compile({backend})", lambda: (
        lambda r: (f"{r[0]:.0f} samples/s", f"peak {r[2]}; warm-up incl. compile {r[1]:.0f} s"))(
        mae_rate(cfg, device, precision, backend)))
    print(f"\n{'check':58s} {'figure':>16s}  note")
    for label, figure, note in rows:
        print(f"{label:58s} {figure:>16s}  {note}")
    print(f"total {time.perf_counter() - start:.0f} s")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
