"""A page's truth in the formats detection and segmentation tools train on: COCO, YOLO, label PNGs.

Pure functions of `Rendered.truth` (and `Rendered.masks`); no files, no torch. Classes are one fixed
table for every page, so class ids mean the same thing across a whole dataset: a trace box and a
lead-label box per standard lead, plus "other" for non-standard leads (Frank vx, MLII, ...).
Cabrera's "-aVR" counts as aVR; the printed name stays in each COCO annotation's "lead".

Coordinates: truth points are pixel centres (pixel i covers [i - 0.5, i + 0.5]); COCO and YOLO use
pixel edges (the image spans [0, W] x [0, H]), so edge = centre + 0.5. A trace box is padded by half
the stroke width so it bounds the drawn ink, and every box is clipped to the image; a box left
with no area (a trace that fell off the page) is dropped.
"""
from __future__ import annotations

import numpy as np

from .layout import CHEST_LEADS, LIMB_LEADS

LEAD_CLASSES: tuple[str, ...] = LIMB_LEADS + CHEST_LEADS + ("other",)
#: Class names in id order: YOLO class = index, COCO category id = index + 1.
CATEGORIES: tuple[str, ...] = tuple(f"lead:{n}" for n in LEAD_CLASSES) + tuple(f"label:{n}" for n in LEAD_CLASSES)
_LEAD_INDEX = {name.lower(): k for k, name in enumerate(LEAD_CLASSES[:-1])}


def lead_class(lead: str) -> str:
    """Standard spelling of a printed lead name ("-aVR" -> "aVR", "avl" -> "aVL"), else "other"."""
    key = str(lead).strip().lower().lstrip("-")
    return LEAD_CLASSES[_LEAD_INDEX[key]] if key in _LEAD_INDEX else "other"


def page_boxes(truth: dict) -> list[dict]:
    """Every visible trace and lead-label box of a page, in pixel-edge xyxy, clipped to the image.

    Returns dicts {"category", "category_index", "bbox_xyxy", "lead", "panel", "is_rhythm"}; a page
    rendered with trace_points=False has no trace boxes (their points were not kept).
    """
    h, w = truth["image_size"]
    half_stroke = 0.5 * float(truth.get("trace_thickness_px") or 0)
    out = []
    for k, panel in enumerate(truth.get("panels", ())):
        lead = lead_class(panel["lead"])
        for kind, key, pad in (("lead", "lead_box", half_stroke), ("label", "label_box", 0.0)):
            box = panel.get(key)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            edges = np.array([x0 + 0.5 - pad, y0 + 0.5 - pad, x1 + 0.5 + pad, y1 + 0.5 + pad])
            edges = np.clip(edges, 0, [w, h, w, h])
            if edges[2] <= edges[0] or edges[3] <= edges[1]:
                continue
            name = f"{kind}:{lead}"
            out.append({"category": name, "category_index": CATEGORIES.index(name),
                        "bbox_xyxy": [round(float(v), 3) for v in edges], "lead": panel["lead"],
                        "panel": k, "is_rhythm": bool(panel.get("is_rhythm", False))})
    return out


def coco_categories() -> list[dict]:
    return [{"id": k + 1, "name": name, "supercategory": name.split(":")[0]} for k, name in enumerate(CATEGORIES)]


def coco_image(truth: dict, image_id: int, file_name: str, first_annotation_id: int = 1) -> tuple[dict, list[dict]]:
    """(COCO "images" entry, its "annotations") for one page; annotation ids count up from
    `first_annotation_id`, so pages of one dataset can be numbered without collisions."""
    h, w = truth["image_size"]
    annotations = []
    for j, box in enumerate(page_boxes(truth)):
        x0, y0, x1, y1 = box["bbox_xyxy"]
        annotations.append({"id": first_annotation_id + j, "image_id": image_id,
                            "category_id": box["category_index"] + 1,
                            "bbox": [x0, y0, round(x1 - x0, 3), round(y1 - y0, 3)],
                            "area": round((x1 - x0) * (y1 - y0), 3), "iscrowd": 0,
                            "lead": box["lead"], "panel": box["panel"], "is_rhythm": box["is_rhythm"]})
    return {"id": image_id, "file_name": file_name, "height": int(h), "width": int(w)}, annotations


def coco_dataset(images: list[dict], annotations: list[dict]) -> dict:
    """A complete COCO detection file from `coco_image` outputs."""
    return {"info": {"description": "ECG pages rendered by ecg-render (render.export)"},
            "images": images, "annotations": annotations, "categories": coco_categories()}


def yolo_lines(truth: dict) -> str:
    """YOLO detection labels: one "class cx cy w h" line per box, normalised to [0, 1]."""
    h, w = truth["image_size"]
    lines = []
    for box in page_boxes(truth):
        x0, y0, x1, y1 = box["bbox_xyxy"]
        lines.append(f"{box['category_index']} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} "
                     f"{(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def trace_label_map(masks: dict[str, np.ndarray]) -> np.ndarray:
    """uint8 H x W label image of the traces: 0 background, 1 + LEAD_CLASSES index for each lead
    (1 = I ... 12 = V6, 13 = other). Where two traces overlap the later class wins; `> 0` is the
    binary trace mask. Needs `render(..., masks=True)`."""
    lead_masks = {k.split(":", 1)[1]: m for k, m in masks.items() if k.startswith("lead:")}
    if not lead_masks:
        raise ValueError("no lead masks: render the page with masks=True")
    shape = next(iter(lead_masks.values())).shape
    out = np.zeros(shape, np.uint8)
    for lead, mask in sorted(lead_masks.items(), key=lambda kv: LEAD_CLASSES.index(lead_class(kv[0]))):
        out[mask > 0] = LEAD_CLASSES.index(lead_class(lead)) + 1
    return out
