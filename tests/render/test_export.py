"""Truth exports: COCO / YOLO boxes match the drawn ink, fixed class table, trace label maps."""
from __future__ import annotations

import numpy as np
import pytest

import render
from render import export


@pytest.fixture(scope="module")
def page(synthetic_record):
    signal, fs, leads = synthetic_record
    return render.render(signal, fs, leads, layout="3x4+1R", seed=2, out_size=(400, 560), masks=True)


def test_lead_names_map_to_one_fixed_class_table():
    assert export.lead_class("-aVR") == "aVR" and export.lead_class("avl") == "aVL"
    assert export.lead_class("vx") == "other" and export.lead_class("MLII") == "other"
    assert len(export.CATEGORIES) == 26 and export.CATEGORIES[0] == "lead:I" and export.CATEGORIES[13] == "label:I"
    assert [c["id"] for c in export.coco_categories()] == list(range(1, 27))


def test_trace_boxes_bound_the_drawn_ink(page):
    boxes = [b for b in export.page_boxes(page.truth) if b["category"].startswith("lead:")]
    assert len(boxes) == 13
    for box in boxes:
        ink = page.masks[f"lead:{page.truth['panels'][box['panel']]['lead']}"] > 0
        x0, y0, x1, y1 = (int(round(v)) for v in box["bbox_xyxy"])
        inside = ink[y0:y1, x0:x1].sum()
        around = ink[max(0, y0 - 6):y1 + 6, max(0, x0 - 6):x1 + 6].sum()  # the box grown by 6 px
        assert inside >= 0.97 * around  # no ink cut off ...
        for edge in (ink[y0:y0 + 3, x0:x1], ink[y1 - 3:y1, x0:x1], ink[y0:y1, x0:x0 + 3], ink[y0:y1, x1 - 3:x1]):
            assert edge.any()  # ... and no slack: ink touches every side


def test_label_boxes_hold_the_label_text(page):
    text = page.masks["text"] > 0
    for box in export.page_boxes(page.truth):
        if box["category"].startswith("label:"):
            x0, y0, x1, y1 = (int(round(v)) for v in box["bbox_xyxy"])
            assert text[y0:y1, x0:x1].any()


def test_boxes_are_clipped_and_dropped_off_the_page():
    truth = {"image_size": [100, 200], "trace_thickness_px": 2,
             "panels": [{"lead": "V2", "lead_box": [-50.0, 10.0, 20.0, 30.0], "label_box": [300.0, 5.0, 320.0, 9.0]}]}
    boxes = export.page_boxes(truth)
    assert len(boxes) == 1 and boxes[0]["bbox_xyxy"] == [0.0, 9.5, 21.5, 31.5]
    line = export.yolo_lines(truth).split()
    assert int(line[0]) == export.CATEGORIES.index("lead:V2")
    assert np.allclose([float(v) for v in line[1:]], [10.75 / 200, 20.5 / 100, 21.5 / 200, 22.0 / 100])
    image, anns = export.coco_image(truth, 7, "p.png", first_annotation_id=40)
    assert image == {"id": 7, "file_name": "p.png", "height": 100, "width": 200}
    assert anns[0]["id"] == 40 and anns[0]["bbox"] == [0.0, 9.5, 21.5, 22.0] and anns[0]["category_id"] == export.CATEGORIES.index("lead:V2") + 1


def test_trace_label_map_codes_each_lead(page):
    labels = export.trace_label_map(page.masks)
    for name, mask in page.masks.items():
        if name.startswith("lead:"):
            code = export.LEAD_CLASSES.index(export.lead_class(name[5:])) + 1
            assert (labels[mask > 0] == code).mean() > 0.8  # overlaps with neighbours may take a few pixels
    assert set(np.unique(labels)) == set(range(13))
    with pytest.raises(ValueError, match="masks=True"):
        export.trace_label_map({"grid": page.masks["grid"]})
