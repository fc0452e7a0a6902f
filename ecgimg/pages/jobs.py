"""One record -> its rendered views as encoded files (image, truth JSON, labels, exports).

Runs inside ecg-render's worker processes: reading, rendering and encoding all happen there, so
the parent only writes bytes. A page is a pure function of (settings, record id, view): the same
inputs give byte-identical files in any process, on any shard, on a rerun.
"""
from __future__ import annotations

import io
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

import render
from ecgimg.pages.encode import encode_image, encode_json, encode_png
from ecgimg.pages.records import RecordRef, load
from render import export

EXPORTS = ("coco", "yolo", "mask")


@dataclass(frozen=True)
class PageSettings:
    """Everything that decides the bytes of a page; stored in shard manifests."""

    layout: str = "3x4+1R"
    style: str = "classic"
    degrade: str | None = None
    dpi: int | None = None
    seed: int = 0
    random: bool = False
    size: int | None = None  # long side in px, aspect ratio kept (isotropic px/mm); None = page DPI
    views: int = 1
    image_format: str = "png"
    quality: int | None = None
    png_level: int = 1
    masks_npz: bool = False
    exports: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "exports": list(self.exports)}


@dataclass
class PageSample:
    """One rendered view: file stem, encoded members by suffix ("png", "json", ...), metadata."""

    stem: str
    view: int
    files: dict[str, bytes]
    meta: dict
    coco: tuple[dict, list[dict]] | None = None


@dataclass
class RecordPages:
    record_id: str
    samples: list[PageSample] = field(default_factory=list)
    error: str | None = None  # "<path>: <ErrorType>: <message>" when the record failed


def record_seed(base_seed: int, record_id: str, view: int = 0) -> int:
    """Per-record (and per-view) seed from a stable checksum, never Python's salted hash.
    View 0 keeps the seed ecg-render always used, so one-view outputs did not change."""
    parts = [base_seed, zlib.crc32(record_id.encode())] + ([view] if view else [])
    return int(np.random.default_rng(parts).integers(2**31))


def auto_layout(leads) -> str | render.LayoutSpec:
    """3x4+1R for a 12-lead record, else one rhythm strip per lead (first three leads)."""
    names = {name.lower() for name in leads}
    if all(lead.lower() in names for lead in render.LAYOUT_PRESETS["3x4+1R"].leads):
        return "3x4+1R"
    return render.LayoutSpec("strips", (), tuple(leads[:3]), separators=False)


def page_spec(settings: PageSettings, leads, seed: int):
    """(layout, style, degrade) of one page."""
    if settings.random:
        layout, style, degrade = render.random_spec(np.random.default_rng(seed), dpi=settings.dpi)
        if settings.layout == "auto":
            layout = auto_layout(leads)
        return layout, style, degrade
    layout = auto_layout(leads) if settings.layout == "auto" else settings.layout
    return layout, render.get_style(settings.style, dpi=settings.dpi), settings.degrade


def out_size_for(style: render.PaperStyle, size: int | None) -> tuple[int, int] | None:
    """(H, W) with the page's long side = `size` px and its aspect ratio kept (same px/mm both ways,
    up to rounding to whole pixels)."""
    if not size:
        return None
    w_mm, h_mm = style.page_size_mm
    px_per_mm = size / max(w_mm, h_mm)
    return max(1, round(h_mm * px_per_mm)), max(1, round(w_mm * px_per_mm))


def render_page(ref: RecordRef, record, settings: PageSettings, view: int) -> render.Rendered:
    """The page itself (image, truth, masks when an export needs them)."""
    seed = record_seed(settings.seed, ref.record_id, view)
    layout, style, degrade = page_spec(settings, record.leads, seed)
    style = render.get_style(style)
    return render.render(np.asarray(record.signal, np.float32), record.fs, list(record.leads), layout=layout,
                         style=style, degrade=degrade, seed=seed, out_size=out_size_for(style, settings.size),
                         masks=settings.masks_npz or "mask" in settings.exports)


def cell_quads(truth: dict) -> list:
    """Every panel's cell quad: what a lead-grid crop needs (kept in shard indexes)."""
    return [p["cell_quad"] for p in truth["panels"] if p.get("cell_quad")]


def render_view(ref: RecordRef, record, settings: PageSettings, view: int) -> PageSample:
    """One view, encoded: image, truth JSON (with the record's identity) and the asked exports."""
    page = render_page(ref, record, settings, view)
    stem = ref.record_id if view == 0 else f"{ref.record_id}_v{view}"
    identity = {"record_id": ref.record_id, "patient_id": ref.patient_id, "view": view, "split": ref.split,
                "source_path": ref.path}
    files = {settings.image_format: encode_image(page.image, settings.image_format, settings.quality,
                                                 settings.png_level),
             "json": encode_json({**identity, **page.truth})}
    meta = {**identity, "identity": ref.identity, "position": ref.position, "labels": jsonable_labels(record.labels),
            "seed": page.truth["params"]["seed"], "image_size": page.truth["image_size"],
            "cell_quads": cell_quads(page.truth)}
    coco = None
    if "coco" in settings.exports:
        coco = export.coco_image(page.truth, 0, f"{stem}.{settings.image_format}")
    if "yolo" in settings.exports:
        files["txt"] = export.yolo_lines(page.truth).encode()
    if "mask" in settings.exports:
        files["mask.png"] = encode_png(export.trace_label_map(page.masks))
    if settings.masks_npz:
        buf = io.BytesIO()
        np.savez_compressed(buf, **{k.replace(":", "_"): m for k, m in page.masks.items()})
        files["masks.npz"] = buf.getvalue()
    return PageSample(stem, view, files, meta, coco)


def render_record(ref: RecordRef, settings: PageSettings) -> RecordPages:
    """All views of one record; a record that cannot be read or rendered comes back with `error`
    set (one bad record must not stop a dataset run)."""
    try:
        record = load(ref)
        return RecordPages(ref.record_id, [render_view(ref, record, settings, v) for v in range(settings.views)])
    except Exception as exc:  # reported by the caller, the batch goes on
        return RecordPages(ref.record_id, error=f"{ref.path}: {type(exc).__name__}: {exc}")


def jsonable_labels(labels: dict) -> dict:
    out = {}
    for task, value in labels.items():
        if isinstance(value, (list, tuple, set)):
            out[task] = sorted(str(v) for v in value)
        elif value is None or isinstance(value, (str, bool, int, float)):
            out[task] = value
        elif isinstance(value, np.generic):
            out[task] = value.item()
        else:
            out[task] = str(value)
    return out
