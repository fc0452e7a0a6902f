"""`ecg-render`: records, folders of records or a PTB-XL root -> rendered ECG pages with exact truth.

Outputs `<id>.png|jpg|webp` + `<id>.json` per page, or WebDataset tar shards (`--format wds`).
Records are read through ecgimg.data (unit, checksum and NaN checks). A bad record is reported on
stderr and skipped; the exit status is 1 if any record failed, 2 for unusable arguments or output.
Work splits over processes (`--workers`) and over machines (`--shard I/N`, zero-based I), by patient.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from render.layout import LAYOUT_PRESETS
from render.paper import STYLE_PRESETS

from ecgimg.pages.encode import DEFAULT_QUALITY, IMAGE_FORMATS
from ecgimg.pages.jobs import EXPORTS, PageSettings

DEFAULT_RECORDS_PER_TAR = 500


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ecg-render", description=__doc__)
    ap.add_argument("inputs", nargs="+", metavar="INPUT", help="record file, folder of records or PTB-XL root")
    ap.add_argument("-o", "--out", required=True, type=Path, help="output folder (created)")
    ap.add_argument("--layout", default="3x4+1R",
                    help=f"layout preset or 'auto' (12 leads: 3x4+1R, else rhythm strips); {sorted(LAYOUT_PRESETS)}")
    ap.add_argument("--style", default="classic", help=f"paper style preset; {sorted(STYLE_PRESETS)}")
    ap.add_argument("--degrade", default=None, help="degradation preset (none, scan, photo, fax, ...)")
    ap.add_argument("--dpi", type=int, default=None, help="override the style's DPI (72-600)")
    ap.add_argument("--seed", type=int, default=0, help="base seed; each record (and view) derives its own")
    ap.add_argument("--random", action="store_true", help="draw layout/style/degradation per page")
    ap.add_argument("--views", type=int, default=1,
                    help="pages per record, each with its own seeded spec (views > 0 are <id>_v<k>); "
                         "2+ gives contrastive (BCL/SimCLR) training several renders per ECG")
    ap.add_argument("--workers", type=int, default=1, help="processes that read, render and encode")
    ap.add_argument("--shard", default="0/1", help="I/N: render only patient groups with index %% N == I")
    ap.add_argument("--format", choices=(*IMAGE_FORMATS, "wds"), default="png",
                    help="png (lossless), jpg (quality 95), webp (quality 90) files, or wds: WebDataset "
                         "tar shards + index + manifest (image format from --image-format)")
    ap.add_argument("--image-format", choices=IMAGE_FORMATS, default="png", help="image inside wds shards")
    ap.add_argument("--quality", type=int, default=None,
                    help=f"JPEG/WebP quality 1-100 (defaults {DEFAULT_QUALITY})")
    ap.add_argument("--png-level", type=int, default=1, help="PNG deflate level 0-9 (1: fastest useful)")
    ap.add_argument("--size", type=int, default=None,
                    help="training size: the page's LONG side in px, aspect ratio kept (same px/mm across "
                         "and down, e.g. 1024 -> 1024x724 for landscape A4); default: the style's DPI")
    ap.add_argument("--masks", action="store_true", help="also write <id>.masks.npz (every mask of the page)")
    ap.add_argument("--export", default="", metavar="LIST",
                    help=f"comma list of truth exports {EXPORTS}: COCO JSON (coco.json per job), YOLO txt "
                         "(<id>.txt + classes.txt) of lead and lead-label boxes, trace label PNG (<id>.mask.png)")
    ap.add_argument("--records-per-shard", type=int, default=DEFAULT_RECORDS_PER_TAR,
                    help="wds: records per tar (whole patients; a tar may hold a few more)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        i, n = (int(v) for v in args.shard.split("/"))
        if not 0 <= i < n:
            raise ValueError
    except ValueError:
        ap.error(f"--shard must be I/N with 0 <= I < N, got {args.shard!r}")
    args.shard_index, args.shard_count = i, n
    args.exports = tuple(e for e in args.export.split(",") if e)
    if unknown := set(args.exports) - set(EXPORTS):
        ap.error(f"--export: unknown {sorted(unknown)}; choose from {EXPORTS}")
    for name, value, low, high in (("--views", args.views, 1, 1000), ("--size", args.size or 8, 8, 20000),
                                   ("--quality", args.quality or 1, 1, 100), ("--png-level", args.png_level, 0, 9),
                                   ("--workers", args.workers, 1, 4096), ("--records-per-shard", args.records_per_shard, 1, 10**9)):
        if not low <= value <= high:
            ap.error(f"{name} must be in {low}..{high}, got {value}")
    return args


def settings_from(args: argparse.Namespace) -> PageSettings:
    return PageSettings(layout=args.layout, style=args.style, degrade=args.degrade, dpi=args.dpi, seed=args.seed,
                        random=args.random, size=args.size, views=args.views,
                        image_format=args.image_format if args.format == "wds" else args.format,
                        quality=args.quality, png_level=args.png_level, masks_npz=args.masks, exports=args.exports)


def check_output(out: Path) -> str | None:
    """None when `out` can be created and written, else why not (checked before any rendering)."""
    probe = out / f".ecg-render-probe-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return f"cannot write to output folder {out}: {err.strerror or err}"
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from ecgimg.pages.plan import job_records
    from ecgimg.pages.records import discover
    from ecgimg.pages.write import write_files, write_shards

    if problem := check_output(args.out):
        print(f"ecg-render: {problem}", file=sys.stderr)
        return 2
    try:
        records = discover(args.inputs)
    except (OSError, ValueError) as err:  # RecordError (a bad PTB-XL table) is a ValueError
        print(f"ecg-render: {err}", file=sys.stderr)
        return 2
    mine = job_records(records, args.shard_index, args.shard_count)
    if not records or (not mine and args.format != "wds"):
        print(f"ecg-render: no records found in {args.inputs} (shard {args.shard})", file=sys.stderr)
        return 1
    settings = settings_from(args)
    with tqdm(total=len(mine), desc="ecg-render", unit="record", disable=args.no_progress) as bar:
        if args.format == "wds":
            failures = write_shards(mine, settings, args.out, args.workers, args.shard_index, args.shard_count,
                                    args.records_per_shard, bar.update, lambda m: bar.write(f"ecg-render: {m}", file=sys.stderr))
        else:
            tag = "" if args.shard_count == 1 else f"-{args.shard_index:05d}of{args.shard_count:05d}"
            failures = write_files(mine, settings, args.out, args.workers, tag, bar.update)
    for err in failures:
        print(f"ecg-render: FAILED {err}", file=sys.stderr)
    print(f"ecg-render: {len(mine) - len(failures)} records rendered ({settings.views} view(s) each), "
          f"{len(failures)} failed -> {args.out}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
