"""Pages/s per core: rendered in memory vs written by `ecg-render`, same records, same run.

In memory = `render.render` on signals already loaded (what the renderer can make). Written =
the CLI end to end in this process (`--workers 1`): read the record, render, encode, write the
image and the truth JSON; from WFDB files, and from a signal cache of the same records (no header
parsing: wfdb's costs ~20 ms a record). Both are CPU seconds of this process, so a shared machine skews the
ratio less than wall time. Also: WebDataset shard write rate (`--format wds`) and the read rate of
`ecgimg.data.page_stream.PageStream` (decode + letterbox to the model input, the training path).

    .venv/bin/python benchmarks/write_speed.py [--records 16] [--size 0] [--cli ecgimg.pages.cli]

`--cli render.cli` measures the CLI as it was before it moved into ecgimg (at commit 0619bb7).
Records: the PTB-XL subset in ../shared/data when present, else synthetic records saved as .npz.
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import render
from ecgimg.data import load_record

PTBXL_500 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ptbxl" / "records500" / "00000"


def record_paths(n: int, tmp: Path) -> list[Path]:
    """n real PTB-XL records, or n synthetic ones written as .npz when the shared data is absent."""
    if PTBXL_500.is_dir():
        return sorted(p.with_suffix("") for p in PTBXL_500.glob("*_hr.hea"))[:n]
    from ecgimg.data import synthetic_cohort
    paths = []
    for rec in synthetic_cohort(n, 1, seed=0)[:n]:
        path = tmp / f"{rec.record_id}.npz"
        np.savez(path, signal=rec.signal, fs=rec.fs, leads=np.array(rec.leads))
        paths.append(path)
    return paths


def cpu_seconds(fn) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def in_memory(paths: list[Path], size: int | None) -> float:
    """CPU s per page of render.render alone (CLI defaults: 3x4+1R, classic 200 DPI, no degradation)."""
    records = [load_record(p) for p in paths]
    style = render.get_style("classic")
    w_mm, h_mm = style.page_size_mm
    out_size = None if not size else (round(h_mm * size / max(w_mm, h_mm)), round(w_mm * size / max(w_mm, h_mm)))

    def run():
        for k, rec in enumerate(records):
            render.render(rec.signal, rec.fs, rec.leads, layout="3x4+1R", style=style, seed=k,
                          out_size=out_size)
    run()  # warm: grid cache, fonts
    return cpu_seconds(run) / len(records)


def cli_cost(cli, inputs: list[Path], n_pages: int, warm: Path, out: Path, fmt: str, size: int | None) -> float:
    """CPU s per page of the CLI end to end (one process), after a warm-up run on one record."""
    flags = ["--format", fmt, "--no-progress", "--workers", "1"] + (["--size", str(size)] if size else [])
    shutil.rmtree(out, ignore_errors=True)
    cli.main([str(warm), "-o", str(out / "warm"), *flags])
    return cpu_seconds(lambda: cli.main([*(str(p) for p in inputs), "-o", str(out / "run"), *flags])) / n_pages


def shard_read_cost(out: Path, image_size: int) -> float:
    from ecgimg.data.page_stream import PageStream, ShardSource
    pages = PageStream(ShardSource(out), image_size=image_size, batch_size=8, seed=0)
    n = 0

    def run():
        nonlocal n
        for batch in pages:
            n += len(batch["image"])
    run()
    n = 0
    return cpu_seconds(run) / max(n, 1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=16)
    ap.add_argument("--size", type=int, default=0, help="--size for both paths (0: full 200-DPI page)")
    ap.add_argument("--cli", default="ecgimg.pages.cli", help="module whose main(argv) is ecg-render")
    ap.add_argument("--formats", default="png,jpg,webp")
    args = ap.parse_args(argv)
    cli = importlib.import_module(args.cli)
    tmp = Path(tempfile.mkdtemp(prefix="write_speed_"))
    try:
        paths = record_paths(args.records, tmp)
        size = args.size or None
        mem = in_memory(paths, size)
        print(f"records: {len(paths)} ({paths[0].parent}); page: {'full 200-DPI' if not size else f'long side {size} px'}; "
              f"CLI {args.cli}; CPU s of this process (shared machine)")
        print(f"{'path':28s} {'ms/page':>8s} {'pages/s/core':>13s} {'vs memory':>10s}")
        print(f"{'render in memory':28s} {1000 * mem:8.1f} {1 / mem:13.1f} {'100%':>10s}")
        for fmt in args.formats.split(","):
            try:
                cost = cli_cost(cli, paths, len(paths), paths[0], tmp / fmt, fmt, size)
            except SystemExit:  # this CLI has no such format
                print(f"{'CLI ' + fmt:28s} {'(format not offered)':>24s}")
                continue
            print(f"{'CLI ' + fmt:28s} {1000 * cost:8.1f} {1 / cost:13.1f} {mem / cost:10.0%}")
        if "ecgimg" in args.cli:
            from ecgimg.data import build_cache
            cache = build_cache(paths, tmp / "cache", progress=False).path
            for label, inputs, fmt in (("CLI png, signal-cache input", [cache], "png"),
                                       ("CLI wds shard (png)", paths, "wds"),
                                       ("CLI wds, signal-cache input", [cache], "wds")):
                cost = cli_cost(cli, inputs, len(paths), paths[0], tmp / label.replace(" ", "_"), fmt, size)
                print(f"{label:28s} {1000 * cost:8.1f} {1 / cost:13.1f} {mem / cost:10.0%}")
            read = shard_read_cost(tmp / "CLI_wds_shard_(png)" / "run", image_size=size or 300)
            print(f"{'shard read -> tensor':28s} {1000 * read:8.1f} {1 / read:13.1f}  (decode + letterbox to {size or 300} px)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
