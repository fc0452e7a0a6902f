"""Image datasets: ECGs rendered on the fly (or read from ecg-render output) and folders of real scans.

Both produce the same sample dict, `{"image": FloatTensor[C,S,S], ...}`, through one preprocessing
path (the page letterboxed on white paper, or cut to its lead grid and stretched, + ImageNet
normalisation), so a model trained on rendered pages sees real scans the way it saw its training
images.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from ecgimg.data.errors import RecordError
from ecgimg.data.pairs import patient_codes
from ecgimg.data.record import STANDARD_LEADS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
MAX_IMAGE_PIXELS = 120_000_000  # ~ an A3 page at 1200 DPI; anything bigger is refused before decoding
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
GREY_MEAN, GREY_STD = 0.449, 0.226  # channel mean of the ImageNet statistics, for 1-channel input
#: Layouts whose 12 leads span the page width in readable rows (no 1-2 lead strips, no 12 thin rows).
READABLE_LAYOUTS = ("3x4+1R", "3x4", "3x4+2R", "3x4+3R", "6x2", "6x2+1R", "cabrera-3x4")
#: Page policies for `RenderedImages(**PAGE_POLICIES[name])`, used by every image stage.
#: "readable": 12-lead layouts spanning the width, light scan/photo effects, pages drawn and
#: degraded at 2x the training size, then cut to the lead grid and stretched to the square input.
#: Why: at 128-224 px a letterboxed page leaves traces a few px tall, and photocopy/fax
#: thresholding at that size erases them (measured: BCL collapses, supervised models rank pages
#: by their darkness; see benchmarks/image_arm_ablation.py). "printed": the same layouts and
#: paper styles, no scan/photo effects (a clean print or PDF). Why: on the PTB-XL-like cohort a
#: 128 px resnet10t trained 300 steps learns lvsd from clean pages (AUROC 0.87 on one layout,
#: the ceiling a 128 px page keeps by benchmarks/page_resolution.py; 0.82 on the seven) but
#: hardly through light scan/photo effects (0.61 one layout, 0.56 the seven); a CPU budget needs
#: the clean pages.
#: "any": every layout, style and degradation, the whole page letterboxed (closest to a pile of
#: unprocessed printouts).
PAGE_POLICIES = {
    "readable": {"spec_kwargs": {"layouts": READABLE_LAYOUTS, "degrade_strength": "light"},
                 "crop": "grid", "orientation": "landscape", "drop_effects": ("black_white",),
                 "oversample": 2.0},
    "printed": {"spec_kwargs": {"layouts": READABLE_LAYOUTS, "degrade_strength": None},
                "crop": "grid", "orientation": "landscape", "oversample": 2.0},
    "any": {},
}


class ImageFileError(RecordError):
    """An image file that cannot or must not be decoded (unreadable, truncated, absurdly large)."""


# ---------------------------------------------------------------- shared preprocessing
def letterbox(image: np.ndarray, size_px: int, fill: int = 255) -> np.ndarray:
    """Fit HxW(xC) uint8 inside size x size keeping aspect ratio, padding with white paper."""
    import cv2
    h, w = image.shape[:2]
    scale = size_px / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    out = np.full((size_px, size_px) + image.shape[2:], fill, dtype=np.uint8)
    top, left = (size_px - new_h) // 2, (size_px - new_w) // 2
    out[top:top + new_h, left:left + new_w] = resized
    return out


def stretch(image: np.ndarray, size_px: int) -> np.ndarray:
    """Resize HxW(xC) uint8 to size x size ignoring aspect ratio (area filter when shrinking)."""
    import cv2
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if size_px < max(h, w) else cv2.INTER_LINEAR
    return cv2.resize(image, (size_px, size_px), interpolation=interp)


def grid_crop(image: np.ndarray, truth: dict, margin_frac: float = 0.02) -> np.ndarray:
    """The lead grid of a rendered page: the box around every panel's cell (after degradations),
    plus a small margin, clipped to the image. Drops header text and margins, as real scans that
    are cropped to the tracing do; falls back to the whole image when no panel is known."""
    quads = [np.asarray(p["cell_quad"], np.float64) for p in truth.get("panels", ()) if p.get("cell_quad")]
    if not quads:
        return image
    pts = np.concatenate(quads)
    h, w = image.shape[:2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    mx, my = margin_frac * (x1 - x0), margin_frac * (y1 - y0)
    left, top = int(np.clip(np.floor(x0 - mx), 0, w - 1)), int(np.clip(np.floor(y0 - my), 0, h - 1))
    right, bottom = int(np.clip(np.ceil(x1 + mx), left + 1, w)), int(np.clip(np.ceil(y1 + my), top + 1, h))
    return image[top:bottom, left:right]


def to_tensor(image_rgb: np.ndarray, grayscale: bool = False) -> torch.Tensor:
    """uint8 HxWx3 RGB -> normalised FloatTensor [C,H,W] (C=1 for greyscale).

    Done in numpy as one multiply-add per pixel (per-channel scale and offset folded together):
    it runs once per image inside DataLoader workers, where small torch ops cost more than the math.
    """
    if grayscale:  # ITU-R 601 luma (as PIL "L"), then the greyscale statistics
        luma = image_rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return torch.from_numpy((luma * (1 / (255 * GREY_STD)) - GREY_MEAN / GREY_STD)[None])
    scale = 1.0 / (255.0 * np.asarray(IMAGENET_STD_RGB, np.float32))
    offset = -np.asarray(IMAGENET_MEAN_RGB, np.float32) / np.asarray(IMAGENET_STD_RGB, np.float32)
    chw = np.ascontiguousarray(image_rgb.transpose(2, 0, 1), dtype=np.float32)
    chw *= scale[:, None, None]
    chw += offset[:, None, None]
    return torch.from_numpy(chw)


def read_image_rgb(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode any common image format to uint8 RGB, EXIF orientation applied, size checked first.

    The header is read lazily by `Image.open`; its declared size is checked before `load()` so a
    decompression bomb never allocates. Palette/greyscale/RGBA are converted (alpha over white).
    Deeper images are scaled by their bit depth, never stretched per image (a stretch turns an
    all-white page black): 16-bit by 255/65535 (Pillow already reduces 16-bit RGB this way),
    32-bit integer TIFFs by their declared depth, float images from [0, 1]; a float image outside
    [0, 1] or with NaN pixels has no known scale and is refused.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageFileError(path, f"image is {w}x{h} = {w * h:,} pixels, over the "
                                               f"{max_pixels:,}-pixel limit; refused before decoding")
                tiff_tags = dict(getattr(img, "tag_v2", None) or {})  # the transpose drops them
                img = ImageOps.exif_transpose(img)
                if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                    rgba = img.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    img = Image.alpha_composite(background, rgba)
                elif img.mode.startswith("I") or img.mode == "F":
                    img = Image.fromarray(_deep_to_uint8(path, img, tiff_tags))
                return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except ImageFileError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageFileError(path, f"refused as a decompression bomb: {err}") from err
    except FileNotFoundError as err:
        raise ImageFileError(path, "file not found") from err
    except (OSError, ValueError, SyntaxError) as err:  # PIL raises these for corrupt/unknown files
        raise ImageFileError(path, f"cannot decode image: {err}") from err


def _deep_to_uint8(path: Path, img: Image.Image, tiff_tags: dict) -> np.ndarray:
    """A 16/32-bit integer or float greyscale image as uint8, scaled by its bit depth."""
    values = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        if not np.isfinite(values).all():
            raise ImageFileError(path, "float image with NaN or infinite pixels")
        if values.min() < 0 or values.max() > 1:
            raise ImageFileError(path, f"float image with values {values.min():g}..{values.max():g}, "
                                       "outside [0, 1]: its scale is unknown")
        full_scale = 1.0
    elif img.mode.startswith("I;16"):
        full_scale = 65535.0
    else:  # "I": 32-bit signed; TIFF says how many bits were used, PNG/PGM "I" is 16-bit data
        bits = tiff_tags.get(258)  # BitsPerSample
        bits = int(bits[0] if isinstance(bits, tuple) else bits) if bits else (
            16 if values.max() <= 65535 else 32)
        signed = tiff_tags.get(339) in (2, (2,))  # SampleFormat 2: two's complement
        full_scale = float(2 ** (bits - 1) - 1 if signed else 2 ** bits - 1)
    return np.clip(np.round(values / full_scale * 255.0), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- real scans
class ScanFolder(Dataset):
    """Every page image under `root` (recursive, sorted), optionally with labels from a CSV.

    crop="grid" (default) finds the printed grid of each scan (`scan_crop.find_grid`: grid period
    and region, trace ink for grid-less pages) and cuts the image to it, then stretches it to the
    square input, the way `RenderedImages(crop="grid")` cuts training pages to their lead grid;
    crop="page" letterboxes the whole image (for models trained on letterboxed pages).
    pages_only skips images that cannot be a 12-lead page (short side < `min_side_px`, or more
    than `max_aspect`:1, e.g. the single-lead crops beside real scans); they are listed in
    `self.skipped`. labels_csv: a table with a `file` column (path relative to root, or bare file
    name/stem) and one numeric column per target (or `label_cols`). Yields {"image", "index",
    "file"} + "target".
    """

    def __init__(self, root: str | Path, labels_csv: str | Path | None = None, image_size: int = 300,
                 grayscale: bool = False, label_cols: Sequence[str] | None = None,
                 file_col: str = "file", max_pixels: int = MAX_IMAGE_PIXELS, recursive: bool = True,
                 crop: str = "grid", pages_only: bool = True, min_side_px: int = 200,
                 max_aspect: float = 3.2):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: scan folder not found")
        if crop not in ("grid", "page"):
            raise ValueError(f"crop must be 'grid' (cut to the printed grid) or 'page' (letterbox), got {crop!r}")
        pattern = "**/*" if recursive else "*"
        files = sorted(p for p in self.root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        self.skipped: list[str] = []
        if pages_only:
            kept = []
            for f in files:
                (kept if _could_be_page(f, min_side_px, max_aspect) else self.skipped).append(f)
            self.skipped = [f.relative_to(self.root).as_posix() for f in self.skipped]
            files = kept
        self.files = files
        if not self.files:
            raise FileNotFoundError(f"{self.root}: no page images ({', '.join(IMAGE_EXTENSIONS)}); "
                                    f"{len(self.skipped)} too small or too narrow to be a page")
        self.image_size = image_size
        self.grayscale = grayscale
        self.max_pixels = max_pixels
        self.crop = crop
        self.min_side_px, self.max_aspect = min_side_px, max_aspect
        self.class_names: list[str] = []
        self.targets: np.ndarray | None = None
        if labels_csv is not None:
            self._attach_labels(Path(labels_csv), label_cols, file_col)

    def _attach_labels(self, csv: Path, label_cols: Sequence[str] | None, file_col: str) -> None:
        table = pd.read_csv(csv)
        if file_col not in table.columns:
            raise ValueError(f"{csv}: no {file_col!r} column (columns: {list(table.columns)})")
        cols = list(label_cols) if label_cols else [c for c in table.columns if c != file_col
                                                    and pd.api.types.is_numeric_dtype(table[c])]
        keyed = {}
        for row in table.itertuples(index=False):
            name = str(getattr(row, file_col))
            values = [float(getattr(row, c)) for c in cols]
            for key in (name, Path(name).name, Path(name).stem):
                keyed.setdefault(key, values)
        rows = []
        for f in self.files:
            rel = f.relative_to(self.root).as_posix()
            hit = next((keyed[k] for k in (rel, f.name, f.stem) if k in keyed), None)
            rows.append(hit if hit is not None else [np.nan] * len(cols))
        self.class_names = cols
        self.targets = np.asarray(rows, dtype=np.float32).reshape(len(self.files), len(cols))

    def __len__(self) -> int:
        return len(self.files)

    def model_input(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB S x S image the model sees for a decoded scan (crop policy applied)."""
        if self.crop == "grid":
            from ecgimg.data.scan_crop import crop_to_grid
            return stretch(crop_to_grid(rgb), self.image_size)
        return letterbox(rgb, self.image_size)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        rgb = self.model_input(read_image_rgb(path, self.max_pixels))
        sample: dict[str, Any] = {"image": to_tensor(rgb, self.grayscale), "index": index,
                                  "file": path.relative_to(self.root).as_posix()}
        if self.targets is not None:
            sample["target"] = torch.from_numpy(self.targets[index])
        return sample


def _could_be_page(path: Path, min_side_px: int, max_aspect: float) -> bool:
    """From the header alone: big and square enough for rows of leads. Unreadable files count as
    pages, so that reading them reports the problem instead of dropping them."""
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return True
    return min(w, h) >= min_side_px and max(w, h) <= max_aspect * min(w, h)


# ---------------------------------------------------------------- rendered ECGs
def _source_arrays(source: Any, targets: Any, patient_ids: Any, task: str | None):
    """(signals [N,12,T], fs, leads, patient_ids, record_ids, targets [N,K]|None) from a cache,
    a list of Records, or a plain array."""
    if hasattr(source, "signals") and hasattr(source, "index"):  # SignalCache
        index = source.index
        if targets is None and task is not None:
            _, targets = source.targets(task)
        pids = index["patient_id"].astype(str).to_numpy() if patient_ids is None else patient_ids
        rids = index["record_id"].astype(str).to_numpy()
        return source.signals, float(getattr(source, "fs", 500.0)), list(STANDARD_LEADS), pids, rids, targets
    if isinstance(source, (list, tuple)) and source and hasattr(source[0], "signal"):  # Records
        signals = np.stack([r.signal for r in source]).astype(np.float32)
        if targets is None and task is not None:
            keys = [task] if task in source[0].labels else sorted(k for k in source[0].labels if k.startswith(task))
            targets = np.array([[float(r.labels.get(k, np.nan)) for k in keys] for r in source], np.float32)
        pids = np.array([r.patient_id or r.record_id for r in source]) if patient_ids is None else patient_ids
        rids = np.array([r.record_id for r in source])
        return signals, float(source[0].fs), list(source[0].leads), pids, rids, targets
    signals = np.asarray(source)
    if signals.ndim != 3:
        raise ValueError(f"signals must be [N, leads, samples], got shape {signals.shape}")
    pids = np.arange(len(signals)) if patient_ids is None else patient_ids
    return signals, 500.0, list(STANDARD_LEADS), pids, np.arange(len(signals)).astype(str), targets


class RenderedImages(Dataset):
    """Records rendered to paper images on the fly, one fresh seeded spec per (seed, epoch, index, view).

    Keys may be an int position (view 0, the dataset's epoch) or a `(position, view, epoch)` tuple from
    `PatientViewSampler`, so two views of one ECG get independent layouts/styles and persistent
    workers still see the right epoch. `policy="random"` draws specs with `render.random_spec`;
    a dict {"layout", "style", "degrade"} fixes them. `pages_dir` switches to offline mode: read
    `<record_id>.png` (written by ecg-render) instead of rendering. Yields {"image", "index",
    "patient", "view", "target" (if any)}.
    """

    def __init__(self, source: Any, indices: Sequence[int] | None = None, seed: int = 0,
                 image_size: int = 300, grayscale: bool = False, policy: str | dict = "random",
                 targets: Any = None, task: str | None = None, patient_ids: Sequence | None = None,
                 fs: float | None = None, leads: Sequence[str] | None = None,
                 render_dpi: int | None = 100, pages_dir: str | Path | None = None,
                 spec_kwargs: dict | None = None, crop: str = "page", orientation: str | None = None,
                 drop_effects: Sequence[str] = (), oversample: float = 1.0):
        signals, src_fs, src_leads, pids, rids, tgt = _source_arrays(source, targets, patient_ids, task)
        self.signals = signals
        self.fs = float(fs or src_fs)
        self.leads = list(leads or src_leads)
        self.patient = patient_codes(pids)  # codes over the whole source: stable across subsets
        self.record_ids = np.asarray(rids).astype(str)
        self.targets = None if tgt is None else np.asarray(tgt, dtype=np.float32).reshape(len(signals), -1)
        self.indices = np.arange(len(signals)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.seed = int(seed)
        self.image_size = int(image_size)
        self.grayscale = grayscale
        if not (policy == "random" or isinstance(policy, dict)):
            raise ValueError(f"policy must be 'random' or a dict of fixed specs, got {policy!r}")
        self.policy = policy
        self.render_dpi = render_dpi
        self.pages_dir = None if pages_dir is None else Path(pages_dir)
        self.spec_kwargs = dict(spec_kwargs or {})
        if crop not in ("page", "grid"):
            raise ValueError(f"crop must be 'page' (letterboxed page) or 'grid' (lead grid, stretched), got {crop!r}")
        if orientation not in (None, "landscape", "portrait"):
            raise ValueError(f"orientation must be None, 'landscape' or 'portrait', got {orientation!r}")
        if not oversample >= 1.0:
            raise ValueError(f"oversample must be >= 1, got {oversample!r}")
        self.crop, self.orientation, self.oversample = crop, orientation, float(oversample)
        self.drop_effects = tuple(drop_effects)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def source_index(self, position: int) -> int:
        """Row in the signal source of dataset position `position`."""
        return int(self.indices[position])

    @property
    def patient_of_position(self) -> np.ndarray:
        """Patient code per dataset position: what `PatientViewSampler` takes as `patient_ids`."""
        return self.patient[self.indices]

    def render_view(self, record: int, view: int = 0, epoch: int | None = None) -> np.ndarray:
        """uint8 RGB S x S page for source row `record`: deterministic in (seed, epoch, record, view)."""
        import render  # lazy: the renderer is only needed by workers that render
        epoch = self.epoch if epoch is None else epoch
        seq = np.random.SeedSequence([self.seed, epoch, record, view])
        rng = np.random.default_rng(seq)
        if self.policy == "random":
            layout, style, degrade = render.random_spec(rng, **self.spec_kwargs)
        else:
            layout, style, degrade = (self.policy.get(k) for k in ("layout", "style", "degrade"))
        style = render.get_style(style)
        if self.render_dpi is not None and style.dpi > self.render_dpi:
            # drawing dominates cost and the page is shrunk to S px anyway: draw at a lower DPI
            style = dataclasses.replace(style, dpi=int(self.render_dpi))
        if self.orientation is not None and style.orientation != self.orientation:
            style = dataclasses.replace(style, orientation=self.orientation)
        if dataclasses.is_dataclass(degrade) and self.drop_effects:  # e.g. no photocopy thresholding
            degrade = dataclasses.replace(degrade, **{name: None for name in self.drop_effects})
        w_mm, h_mm = style.page_size_mm
        scale = self.image_size * self.oversample / max(w_mm, h_mm)
        out_hw = (max(1, round(h_mm * scale)), max(1, round(w_mm * scale)))
        rendered = render.render(np.asarray(self.signals[record], dtype=np.float32), self.fs, self.leads,
                                 layout=layout, style=style, degrade=degrade,
                                 seed=int(seq.generate_state(1)[0]), out_size=out_hw,
                                 trace_points=False)  # only the image and cell quads are used
        if self.crop == "grid":
            return stretch(grid_crop(rendered.image, rendered.truth), self.image_size)
        return letterbox(rendered.image, self.image_size)

    def _read_page(self, record: int) -> np.ndarray:
        rid = self.record_ids[record]
        for ext in (".png", ".jpg", ".jpeg"):
            path = self.pages_dir / f"{rid}{ext}"
            if path.is_file():
                return letterbox(read_image_rgb(path), self.image_size)
        raise ImageFileError(self.pages_dir / f"{rid}.png", "rendered page not found (run ecg-render first)")

    def __getitem__(self, key: int | tuple) -> dict[str, Any]:
        if isinstance(key, tuple):
            position, view, *rest = key
            epoch = rest[0] if rest else self.epoch
        else:
            position, view, epoch = key, 0, self.epoch
        record = self.source_index(position)
        rgb = self._read_page(record) if self.pages_dir is not None else self.render_view(record, view, epoch)
        sample: dict[str, Any] = {"image": to_tensor(rgb, self.grayscale), "index": record,
                                  "patient": int(self.patient[record]), "view": int(view)}
        if self.targets is not None:
            sample["target"] = torch.from_numpy(self.targets[record].copy())
        return sample
