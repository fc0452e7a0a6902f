"""`ecg-render`: records, folders of records or a PTB-XL root -> `<id>.png|jpg` + `<id>.json`.

A bad record is reported on stderr and skipped; the exit status is 1 if any record failed.
Work splits over processes (`--workers`) and over machines (`--shard I/N`, zero-based I).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

RECORD_SUFFIXES = (".hea", ".mat", ".npz", ".npy")


def parse_args(argv=None) -> argparse.Namespace:
    from .layout import LAYOUT_PRESETS
    from .paper import STYLE_PRESETS

    ap = argparse.ArgumentParser(prog="ecg-render", description=__doc__)
    ap.add_argument("inputs", nargs="+", metavar="INPUT", help="record file, folder of records or PTB-XL root")
    ap.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    ap.add_argument("--layout", default="3x4+1R",
                    help=f"layout preset or 'auto' (12 leads: 3x4+1R, else rhythm strips); {sorted(LAYOUT_PRESETS)}")
    ap.add_argument("--style", default="classic", help=f"paper style preset; {sorted(STYLE_PRESETS)}")
    ap.add_argument("--degrade", default=None, help="degradation preset (none, scan, photo, fax, ...)")
    ap.add_argument("--dpi", type=int, default=None, help="override the style's DPI (72-600)")
    ap.add_argument("--seed", type=int, default=0, help="base seed; each record derives its own")
    ap.add_argument("--random", action="store_true", help="draw layout/style/degradation per record")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--shard", default="0/1", help="I/N: render only records with index %% N == I")
    ap.add_argument("--format", choices=("png", "jpg"), default="png")
    ap.add_argument("--size", type=int, default=None, help="square training size in px (e.g. 512)")
    ap.add_argument("--masks", action="store_true", help="also write <id>.masks.npz")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        i, n = (int(v) for v in args.shard.split("/"))
        if not 0 <= i < n:
            raise ValueError
    except ValueError:
        ap.error(f"--shard must be I/N with 0 <= I < N, got {args.shard!r}")
    args.shard_index, args.shard_count = i, n
    return args


def discover(inputs) -> list[tuple[str, Path]]:
    """(record id, record path) for every input, sorted and de-duplicated by path."""
    found: dict[Path, str] = {}
    for raw in inputs:
        path = Path(raw)
        if (path / "ptbxl_database.csv").is_file():
            with open(path / "ptbxl_database.csv", newline="") as fh:
                for row in csv.DictReader(fh):
                    rec = path / row["filename_hr"]
                    if rec.with_suffix(".hea").is_file():
                        found.setdefault(rec, f"ptbxl_{int(float(row['ecg_id'])):05d}")
        elif path.is_dir():
            for hea in sorted(path.rglob("*.hea")):
                found.setdefault(hea.with_suffix(""), hea.stem)
            for mat in sorted(path.rglob("*.mat")):
                if not mat.with_suffix(".hea").exists():
                    found.setdefault(mat.with_suffix(""), mat.stem)
        else:
            base = path.with_suffix("") if path.suffix.lower() in RECORD_SUFFIXES else path
            found.setdefault(base, base.name)
    return sorted(((rid, p) for p, rid in found.items()), key=lambda t: (t[0], str(t[1])))


def read_record(path: Path) -> tuple[np.ndarray, float, list[str]]:
    """Signal (n_leads, n_samples) mV, fs, lead names. Uses ecgimg.data when installed."""
    try:
        from ecgimg.data import load_record
    except ImportError:  # render stays usable without ecgimg: read WFDB directly
        load_record = None
    if load_record is not None:
        rec = load_record(path)
        return np.asarray(rec.signal, np.float32), float(rec.fs), list(rec.leads)
    import wfdb

    rec = wfdb.rdrecord(str(path))
    return rec.p_signal.T.astype(np.float32), float(rec.fs), list(rec.sig_name)


def record_seed(base_seed: int, record_id: str) -> int:
    """Per-record seed from a stable checksum (never Python's salted hash)."""
    return int(np.random.default_rng([base_seed, zlib.crc32(record_id.encode())]).integers(2**31))


def auto_layout(leads: list[str]) -> str | object:
    from .layout import LAYOUT_PRESETS, LayoutSpec

    names = {name.lower() for name in leads}
    if all(lead.lower() in names for lead in LAYOUT_PRESETS["3x4+1R"].leads):
        return "3x4+1R"
    return LayoutSpec("strips", (), tuple(leads[:3]), separators=False)


def render_one(job) -> tuple[str, str | None]:
    """Render and write one record; returns (id, error message or None)."""
    import cv2

    from . import render, random_spec
    from .paper import get_style

    rid, path, args = job
    try:
        signal, fs, leads = read_record(path)
        seed = record_seed(args.seed, rid)
        if args.random:
            layout, style, degrade = random_spec(np.random.default_rng(seed), dpi=args.dpi)
            if args.layout == "auto":
                layout = auto_layout(leads)
        else:
            layout = auto_layout(leads) if args.layout == "auto" else args.layout
            style, degrade = get_style(args.style, dpi=args.dpi), args.degrade
        out_size = (args.size, args.size) if args.size else None
        r = render(signal, fs, leads, layout=layout, style=style, degrade=degrade, seed=seed,
                   out_size=out_size, masks=args.masks)
        bgr = cv2.cvtColor(r.image, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if args.format == "jpg" else []
        if not cv2.imwrite(str(args.out / f"{rid}.{args.format}"), bgr, params):
            raise OSError(f"could not write {args.out / f'{rid}.{args.format}'}")
        truth = {"record_id": rid, "source_path": str(path), **r.truth}
        (args.out / f"{rid}.json").write_text(json.dumps(truth))
        if args.masks:
            np.savez_compressed(args.out / f"{rid}.masks.npz", **{k.replace(":", "_"): m for k, m in r.masks.items()})
        return rid, None
    except Exception as exc:  # report and continue: one bad record must not stop a dataset run
        return rid, f"{path}: {type(exc).__name__}: {exc}"


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    args.out.mkdir(parents=True, exist_ok=True)
    records = discover(args.inputs)
    mine = [r for i, r in enumerate(records) if i % args.shard_count == args.shard_index]
    if not mine:
        print(f"ecg-render: no records found in {args.inputs} (shard {args.shard})", file=sys.stderr)
        return 1
    jobs = [(rid, path, args) for rid, path in mine]
    failures = []
    with tqdm(total=len(jobs), desc="ecg-render", unit="page", disable=args.no_progress) as bar:
        if args.workers > 1:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                results = pool.map(render_one, jobs, chunksize=4)
                for rid, err in results:
                    failures += [err] if err else []
                    bar.update()
        else:
            for job in jobs:
                rid, err = render_one(job)
                failures += [err] if err else []
                bar.update()
    for err in failures:
        print(f"ecg-render: FAILED {err}", file=sys.stderr)
    print(f"ecg-render: {len(jobs) - len(failures)} rendered, {len(failures)} failed -> {args.out}",
          file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
