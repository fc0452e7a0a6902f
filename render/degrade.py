"""Scanner/photo/fax degradations of a rendered page, with ground truth carried through geometry.

``apply_degradations`` works in two phases so every image is documented and reproducible:
1. *plan*: draw the concrete parameters of every enabled effect from the caller's
   ``numpy.random.Generator`` (matrices, warp amplitudes, crop box, JPEG quality, noise seeds...);
   the plan is the JSON ``record``;
2. *execute*: apply the record to image, masks and points. ``replay_degradations`` runs phase 2
   alone, so a stored record reproduces the image byte for byte.

Step order follows the physics: what the capture frames (framing, planned first: it sets the
working and output sizes), paper tint, creases and wrinkles live on the page (so they bend
with it), then the page geometry (framing, ripple, curl, rotation, perspective, crop: one
resampling), then the light and optics (lighting, glare, blur, colour, black-and-white, noise,
JPEG) and the camera model at its capture resolution (see ``render.degrade_capture``).
Spec magnitudes are relative to the image size, so one spec means the same at 512 px and 200 DPI.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from render import degrade_geometry as geo
from render import degrade_photometric as photo
from render.draw import finite_rows
from render.degrade_capture import plan_camera, plan_framing
from render.degrade_plan import plan_geometry, plan_photometric
from render.degrade_spec import (DEGRADE_PRESETS, BlackWhiteSpec, BlurSpec, CameraSpec,
                                 ColourSpec, CreaseSpec, CropSpec, CurlSpec, DegradeSpec,
                                 FramingSpec, JpegSpec, LightingSpec, NoiseSpec, PaperSpec,
                                 PerspectiveSpec, RippleSpec, RotationSpec, WrinkleSpec,
                                 random_degrade_spec)

__all__ = [
    "DEGRADE_PRESETS", "DegradeSpec", "Degraded", "apply_degradations", "random_degrade_spec",
    "replay_degradations", "BlackWhiteSpec", "BlurSpec", "CameraSpec", "ColourSpec", "CreaseSpec",
    "CropSpec", "CurlSpec", "FramingSpec", "JpegSpec", "LightingSpec", "NoiseSpec", "PaperSpec",
    "PerspectiveSpec", "RippleSpec", "RotationSpec", "WrinkleSpec",
]


@dataclass
class Degraded:
    """A degraded page: image HxWx3 uint8 RGB, points (same keys, output pixel coords, may lie
    outside the frame), visible (per key, boolean per point), masks (HxW uint8 0/255) and the
    JSON-serialisable record of every applied step."""

    image: np.ndarray
    points: dict[str, np.ndarray]
    visible: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    record: list[dict[str, Any]] = field(default_factory=list)


def _check_inputs(image: np.ndarray, points: dict, masks: dict) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):
        got = getattr(image, "dtype", type(image)), getattr(image, "shape", None)
        raise ValueError(f"apply_degradations: image must be HxWx3 uint8 RGB, got {got}")
    for name, pts in points.items():
        arr = np.asarray(pts)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"apply_degradations: points[{name!r}] must be (n, 2), got {arr.shape}")
    for name, m in masks.items():
        if m.shape != image.shape[:2] or m.dtype != np.uint8:
            raise ValueError(f"apply_degradations: masks[{name!r}] must be {image.shape[:2]} uint8, "
                             f"got {m.shape} {m.dtype}")


def apply_degradations(image: np.ndarray, points: dict[str, np.ndarray],
                       masks: dict[str, np.ndarray] | None, spec: DegradeSpec,
                       rng: np.random.Generator, out_size: tuple[int, int] | None = None,
                       px_per_mm: float | None = None, content_box_px=None) -> Degraded:
    """Degrade a clean page and move its truth points/masks with it.

    ``out_size`` (H, W): the page is resized to it FIRST and every effect runs at that size, so
    training-size renders stay cheap; the output then has exactly that size. ``px_per_mm`` of the
    page and its lead-grid box ``content_box_px`` (x0, y0, x1, y1) let framing and the camera
    work in physical units (without them: the whole page, ~200 mm on the short side).
    """
    masks = masks or {}
    _check_inputs(image, points, masks)
    if not isinstance(spec, DegradeSpec):
        raise TypeError(f"apply_degradations: spec must be a DegradeSpec, got {type(spec).__name__}")
    record: list[dict[str, Any]] = []
    page_hw = image.shape[:2]
    out_hw = None
    if out_size is not None:
        out_hw = (int(out_size[0]), int(out_size[1]))
        if min(out_hw) < 8:
            raise ValueError(f"apply_degradations: out_size {out_size} is too small (min 8 px)")
    framing = None
    if spec.framing is not None:
        framing = plan_framing(spec.framing, rng, page_hw, content_box_px, out_hw)
        hw = tuple(framing["work_hw"])
    else:
        hw = out_hw if out_hw is not None else page_hw
    if tuple(hw) != tuple(page_hw):
        record.append({"op": "resize", "from_hw": list(page_hw), "to_hw": list(hw)})
    page_px_per_mm = px_per_mm if px_per_mm else min(page_hw) / 200.0
    work_px_per_mm = page_px_per_mm * float(np.sqrt(hw[0] * hw[1] / (page_hw[0] * page_hw[1])))
    paper_steps, camera_steps = plan_photometric(spec, rng, hw)
    record += paper_steps
    geometry = plan_geometry(spec, rng, hw, paper_steps, framing, page_hw, work_px_per_mm)
    if geometry is not None:
        record.append(geometry)
    record += camera_steps
    if spec.camera is not None:
        final_hw = tuple(geometry["out_hw"]) if geometry is not None and "out_hw" in geometry else tuple(hw)
        final_px_per_mm = work_px_per_mm * float(np.sqrt(final_hw[0] * final_hw[1] / (hw[0] * hw[1])))
        if framing is not None:  # the frame box, not the page, fills the output
            x0, y0, x1, y1 = framing["box_page_px"]
            final_px_per_mm = page_px_per_mm * float(np.sqrt(final_hw[0] * final_hw[1] / ((x1 - x0) * (y1 - y0))))
        record += plan_camera(spec.camera, rng, final_hw, final_px_per_mm, fixed_size=out_hw is not None)
    if framing is not None and "pad" in framing:  # last: the padding stays flat white
        record.append({"op": "pad", **framing["pad"], "fill_rgb": [255, 255, 255]})
    return replay_degradations(image, points, masks, record)


def replay_degradations(image: np.ndarray, points: dict[str, np.ndarray],
                        masks: dict[str, np.ndarray] | None, record: list[dict[str, Any]]
                        ) -> Degraded:
    """Apply a stored record (from ``Degraded.record``) to a clean page: the deterministic phase."""
    masks = dict(masks or {})
    _check_inputs(image, points, masks)
    given_image, given_masks = image, dict(masks)  # never hand the caller's arrays back aliased
    # every truth item travels as one (n, 2) array: one point transform per step, not per item
    keys = list(points)
    arrays = [np.asarray(points[k], dtype=np.float64).reshape(-1, 2) for k in keys]
    splits = np.cumsum([len(a) for a in arrays])[:-1]
    flat = np.concatenate(arrays) if arrays else np.zeros((0, 2))
    out_record = []
    for step in record:
        op = step["op"]
        if op == "resize":
            to_hw = tuple(step["to_hw"])
            image, matrix = geo.resize_image(image, to_hw, linear=step.get("interp") == "linear")
            masks = {k: geo.binarise_mask(geo.resize_image(m, to_hw)[0]) for k, m in masks.items()}
            flat = geo.apply_homography_to_points(matrix, flat)
        elif op == "geometry":
            hw = image.shape[:2]
            matrix = np.asarray(step["matrix"], dtype=np.float64)
            curl = step.get("curl")
            out_hw = tuple(step["out_hw"]) if "out_hw" in step else None
            image, masks = geo.warp(image, masks, matrix, curl, tuple(step["border_rgb"]), out_hw)
            flat, residual = geo.map_points(flat, hw, matrix, curl)
            step = {**step, "curl_inverse_residual_px": residual}
        elif op == "pad":
            image, masks, flat = _pad(image, masks, flat, step)
        elif op in photo.STEPS:
            image = photo.STEPS[op](image, step)
        else:
            raise ValueError(f"replay_degradations: unknown step {op!r} in record")
        out_record.append(step)
    pts = dict(zip(keys, np.split(flat, splits) if keys else []))
    h, w = image.shape[:2]
    visible = {k: (finite_rows(v) & (v[:, 0] >= 0) & (v[:, 0] <= w - 1)
                   & (v[:, 1] >= 0) & (v[:, 1] <= h - 1)) for k, v in pts.items()}
    image = image.copy() if image is given_image else np.ascontiguousarray(image)
    masks = {k: m.copy() if m is given_masks.get(k) else m for k, m in masks.items()}
    return Degraded(image=image, points=pts, visible=visible, masks=masks,
                    record=_jsonable(out_record))


def _pad(image, masks, flat, step):
    """The image placed at ``offset_yx`` in a ``to_hw`` canvas of ``fill_rgb`` (masks: 0)."""
    (th, tw), (oy, ox) = step["to_hw"], step["offset_yx"]
    h, w = image.shape[:2]
    if oy < 0 or ox < 0 or oy + h > th or ox + w > tw:
        raise ValueError(f"replay_degradations: pad {step} does not fit a {h}x{w} image")
    canvas = np.empty((th, tw, 3), np.uint8)
    canvas[:] = np.asarray(step.get("fill_rgb", (255, 255, 255)), np.uint8)
    canvas[oy:oy + h, ox:ox + w] = image
    padded = {}
    for k, m in masks.items():
        pm = np.zeros((th, tw), np.uint8)
        pm[oy:oy + h, ox:ox + w] = m
        padded[k] = pm
    return canvas, padded, flat + np.array([ox, oy], np.float64)


def _jsonable(obj: Any) -> Any:
    """Plain JSON types only (numpy scalars/arrays -> Python), so ``json.dumps`` always works."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if dataclasses.is_dataclass(obj):
        return _jsonable(dataclasses.asdict(obj))
    return obj


