"""render.render on real PTB-XL records: exact geometry, masks, determinism, seeds, errors."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import render
from render import LAYOUT_PRESETS, PaperStyle, RenderInputError

REPO = Path(__file__).resolve().parents[2]


def xy(panel: dict) -> np.ndarray:
    """A truth panel's per-sample points as an (n, 2) array (null gaps -> NaN)."""
    return np.stack([np.asarray(panel["x"], np.float64), np.asarray(panel["y"], np.float64)], axis=1)


def recover(panel: dict, truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """Invert the drawing: truth points -> (fractional sample index, mV) via px/mm, gain, speed."""
    pts = xy(panel)
    px_mm = truth["px_per_mm"]
    index = panel["start"] + (pts[:, 0] - panel["x0"]) / (px_mm * truth["mm_per_s"]) * truth["fs"]
    mv = panel["offset_mv"] + panel["sign"] * (panel["baseline_y"] - pts[:, 1]) / (px_mm * panel["mm_per_mv"])
    return index, mv


def is_ink(image: np.ndarray, pts: np.ndarray, paper_level: float = 255.0) -> np.ndarray:
    """Whether the pixel nearest each point is clearly darker than paper or grid (trace-coloured)."""
    h, w = image.shape[:2]
    xy = np.round(pts).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out = np.zeros(len(pts), bool)
    px = image[xy[inside, 1], xy[inside, 0]].astype(np.float32)
    out[inside] = px.max(axis=1) < 0.55 * paper_level
    return out


@pytest.mark.parametrize("layout", sorted(LAYOUT_PRESETS))
def test_truth_recovers_plotted_samples_within_half_pixel(ptbxl_records, layout):
    sig, fs, leads = ptbxl_records[0]
    style = PaperStyle(dpi=150, chest_gain_mm_mv=5.0)
    r = render.render(sig, fs, leads, layout=layout, style=style)
    truth = r.truth
    px_mm = truth["px_per_mm"]
    assert len(truth["panels"]) == len(LAYOUT_PRESETS[layout].grid) * LAYOUT_PRESETS[layout].n_columns \
        + len(LAYOUT_PRESETS[layout].rhythm)
    for panel in truth["panels"]:
        index, mv = recover(panel, truth)
        expected = np.arange(panel["start"], panel["stop"])
        assert len(index) == len(expected) > 0
        # half a pixel, expressed in samples and in mV
        assert np.abs(index - expected).max() * truth["mm_per_s"] / fs * px_mm <= 0.5
        source = sig[panel["signal_index"], panel["start"]:panel["stop"]]  # sign undone by recover
        assert np.abs(mv - source).max() * panel["mm_per_mv"] * px_mm <= 0.5
        # ...and the drawn page agrees: the pixel under each truth point is ink
        pts = xy(panel)
        assert is_ink(r.image, pts).mean() >= 0.99, (layout, panel["lead"])
        assert panel["mm_per_mv"] == (5.0 if panel["lead"].lstrip("-").startswith("V") else 10.0)


def test_einthoven_holds_on_signals_recovered_from_the_page(ptbxl_records):
    sig, fs, leads = ptbxl_records[1]
    r = render.render(sig, fs, leads, layout="3x4", style=PaperStyle(dpi=200), masks=True)
    truth, masks = r.truth, r.masks
    px_mm = truth["px_per_mm"]
    by_lead = {p["lead"]: p for p in truth["panels"]}
    # From truth points: exact up to the signal's own rounding.
    mv = {lead: recover(by_lead[lead], truth)[1] for lead in ("I", "II", "III")}
    assert np.abs(mv["I"] + mv["III"] - mv["II"]).max() < 0.01
    # From raster masks (independent of the truth arrays): column-wise trace centre.
    recovered = {}
    for lead in ("I", "II", "III"):
        p = by_lead[lead]
        mask = masks[f"lead:{lead}"]
        xs = np.arange(int(np.ceil(p["x0"])) + 2, int(np.floor(p["x"][-1])) - 2)
        top = max(0, int(p["baseline_y"] - 25 * px_mm))
        col = mask[top:int(p["baseline_y"] + 25 * px_mm), xs] > 0
        ys = np.arange(col.shape[0])[:, None] + top
        centre = (col * ys).sum(0) / np.maximum(col.sum(0), 1)
        recovered[lead] = p["offset_mv"] + (p["baseline_y"] - centre) / (px_mm * p["mm_per_mv"])
        # recovered trace follows the real samples at the same time (median within 1 px)
        t_index = p["start"] + (xs - p["x0"]) / (px_mm * truth["mm_per_s"]) * fs
        real = np.interp(t_index, np.arange(sig.shape[1]), sig[p["signal_index"]])
        assert np.median(np.abs(recovered[lead] - real)) * p["mm_per_mv"] * px_mm < 1.0
    residual = recovered["I"] + recovered["III"] - recovered["II"]
    assert np.median(np.abs(residual)) * 10 * px_mm < 1.5  # within ~1.5 px


def test_masks_align_with_image(synthetic_record):
    sig, fs, leads = synthetic_record
    r = render.render(sig, fs, leads, style=PaperStyle(dpi=100), masks=True)
    assert set(r.masks) >= {"grid", "text", "calibration"} | {f"lead:{lead}" for lead in
                                                               LAYOUT_PRESETS["3x4+1R"].leads}
    dark = r.image.max(axis=2) < 100
    traces = np.zeros_like(dark)
    for key, m in r.masks.items():
        assert m.shape == r.image.shape[:2] and m.dtype == np.uint8
        if key.startswith("lead:"):
            traces |= m > 0
    assert dark[traces].mean() > 0.9  # trace masks sit on ink
    assert (r.masks["text"] > 0).sum() > 0 and (r.masks["grid"] > 0).mean() > 0.05


def test_same_seed_is_byte_identical_and_params_reproduce(synthetic_record):
    sig, fs, leads = synthetic_record
    a = render.render(sig, fs, leads, layout="6x2", style="pink", seed=7)
    b = render.render(sig, fs, leads, layout="6x2", style="pink", seed=7)
    assert a.image.tobytes() == b.image.tobytes()
    assert json.dumps(a.truth, sort_keys=True) == json.dumps(b.truth, sort_keys=True)
    c = render.render(sig, fs, leads, **json.loads(json.dumps(a.truth["params"])))
    assert c.image.tobytes() == a.image.tobytes()
    assert json.dumps(c.truth, sort_keys=True) == json.dumps(a.truth, sort_keys=True)


def test_seed_changes_page(synthetic_record):
    sig, fs, leads = synthetic_record
    a = render.render(sig, fs, leads, style=PaperStyle(dpi=100), seed=1)
    b = render.render(sig, fs, leads, style=PaperStyle(dpi=100), seed=2)
    assert a.image.tobytes() != b.image.tobytes()  # header text differs
    assert a.truth["panels"] == b.truth["panels"]  # geometry does not depend on the seed


_CHILD = """
import hashlib, json, sys
import numpy as np
sys.path.insert(0, {repo!r})
import render
t = np.arange(5000) / 500.0
sig = np.stack([np.sin(2 * np.pi * (k + 1) * t / 3) for k in range(12)]).astype(np.float32)
leads = ["I","II","III","aVR","aVL","aVF","V1","V2","V3","V4","V5","V6"]
r = render.render(sig, 500, leads, layout="cabrera-3x4", style="green", seed=11)
print(hashlib.sha256(r.image.tobytes() + json.dumps(r.truth, sort_keys=True).encode()).hexdigest())
"""


def test_deterministic_across_processes():
    code = _CHILD.format(repo=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    exec_globals: dict = {}
    import io
    from contextlib import redirect_stdout
    buf = io.StringIO()
    with redirect_stdout(buf):
        exec(compile(code, "<child>", "exec"), exec_globals)
    assert out == buf.getvalue().strip()


def test_out_size_rescales_truth(synthetic_record):
    sig, fs, leads = synthetic_record
    full = render.render(sig, fs, leads, style=PaperStyle(dpi=200))
    small = render.render(sig, fs, leads, style=PaperStyle(dpi=200), out_size=(384, 512))
    assert small.image.shape == (384, 512, 3) and small.image.dtype == np.uint8
    h, w = full.image.shape[:2]
    assert small.truth["render_dpi"] < 200  # fast path: drawn near 2x the output size
    for pf, ps in zip(full.truth["panels"], small.truth["panels"]):
        expect = (xy(pf) + 0.5) * [512 / w, 384 / h] - 0.5
        # same page in mm; only whole-pixel page rounding at the two DPIs differs
        assert np.abs(xy(ps) - expect).max() < 0.3
        # truth of the small page is self-consistent: recover samples through its own scale
        index = ps["start"] + (xy(ps)[:, 0] - ps["x0"]) / (
            small.truth["px_per_mm_xy"][0] * small.truth["mm_per_s"]) * fs
        assert np.abs(index - np.arange(ps["start"], ps["stop"])).max() < 1e-2
    assert small.truth["params"]["style"]["dpi"] == 200


def test_signal_gaps_and_cabrera_sign(synthetic_record):
    sig, fs, leads = synthetic_record
    sig = sig.copy()
    sig[0, 100:200] = np.nan
    r = render.render(sig, fs, leads, layout="cabrera-3x4", style=PaperStyle(dpi=100))
    json.dumps(r.truth, allow_nan=False)  # gaps are null, not NaN
    minus_avr = next(p for p in r.truth["panels"] if p["lead"] == "-aVR")
    assert minus_avr["sign"] == -1.0
    _, mv = recover(minus_avr, r.truth)
    np.testing.assert_allclose(mv, sig[3, minus_avr["start"]:minus_avr["stop"]], atol=1e-3)
    drawn_up_mv = (minus_avr["baseline_y"] - xy(minus_avr)[:, 1]) / (
        r.truth["px_per_mm"] * minus_avr["mm_per_mv"])
    shown = sig[3, minus_avr["start"]:minus_avr["stop"]] - minus_avr["offset_mv"]
    np.testing.assert_allclose(drawn_up_mv, -shown, atol=1e-3)


@pytest.mark.parametrize("bad, match", [
    (dict(signal=np.zeros(10)), "2-D"),
    (dict(leads=["I"]), "lead names"),
    (dict(fs=0), "fs must be"),
    (dict(signal=np.full((12, 100), np.nan)), "no finite"),
    (dict(leads=["a"] * 12), "layout needs lead"),
])
def test_bad_input_raises_typed_error(synthetic_record, bad, match):
    sig, fs, leads = synthetic_record
    kw = dict(signal=sig, fs=fs, leads=leads, **{})
    kw.update(bad)
    with pytest.raises(RenderInputError, match=match):
        render.render(**kw)


def test_unknown_presets_name_the_choices(synthetic_record):
    sig, fs, leads = synthetic_record
    with pytest.raises(ValueError, match="presets"):
        render.render(sig, fs, leads, layout="4x3")
    with pytest.raises(ValueError, match="presets"):
        render.render(sig, fs, leads, style="neon")


def test_short_and_two_lead_signals():
    t = np.arange(1250) / 250.0
    sig = np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])
    r = render.render(sig, 250, ["MLII", "V5"], layout=render.LayoutSpec("x", (), ("MLII", "V5")),
                      style=PaperStyle(dpi=72))
    assert [p["stop"] for p in r.truth["panels"]] == [1250, 1250]
    assert hashlib.sha256(r.image.tobytes()).hexdigest()


def test_render_never_imports_torch_or_ecgimg():
    """The clean path loads neither; the package source imports neither (the CLI may use ecgimg's
    reader lazily)."""
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import numpy as np, render; "
            "r = render.render(np.zeros((12, 1000)), 500, " + repr(list(LAYOUT_PRESETS["3x4"].leads)) +
            ", style=render.PaperStyle(dpi=72), out_size=128); "
            "print(sorted(m for m in ('torch', 'ecgimg') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in (REPO / "render").glob("*.py"):
        text = path.read_text()
        assert "import torch" not in text and "from torch" not in text, path
        if path.name != "cli.py":
            assert "import ecgimg" not in text and "from ecgimg" not in text, path


def test_trace_points_off_keeps_the_image_and_drops_only_sample_points():
    import numpy as np

    import render
    t = np.arange(5000) / 500.0
    signal = np.stack([np.sin(2 * np.pi * 1.2 * t) * (0.5 + 0.05 * k) for k in range(12)]).astype(np.float32)
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    full = render.render(signal, 500, leads, degrade="photo", seed=5, out_size=256)
    lean = render.render(signal, 500, leads, degrade="photo", seed=5, out_size=256, trace_points=False)
    assert np.array_equal(full.image, lean.image)
    for a, b in zip(full.truth["panels"], lean.truth["panels"]):
        assert len(a["x"]) > 0 and b["x"] == [] and b["y"] == []
        assert a["cell_quad"] == b["cell_quad"] and a["label_quad"] == b["label_quad"]


def test_trace_leaving_its_row_is_flagged_with_the_outside_fraction(synthetic_record):
    sig, fs, leads = synthetic_record
    sig = sig.copy()
    t = np.arange(sig.shape[1]) / fs
    sig[6] = 10.0 * np.sin(2 * np.pi * 1.0 * t) ** 21  # a 10 mV V1: 10 cm at 10 mm/mV, far past its row
    r = render.render(sig, fs, leads, layout="3x4", style=PaperStyle(dpi=100))
    by_lead = {p["lead"]: p for p in r.truth["panels"]}
    v1 = by_lead["V1"]
    assert v1["leaves_cell"] is True and 0.0 < v1["outside_cell_fraction"] < 0.5
    # the fraction is what the truth points say: samples above/below the row cell
    cell = np.asarray(v1["cell_quad"])
    y = np.asarray(v1["y"])
    outside = ((y < cell[:, 1].min()) | (y > cell[:, 1].max())).mean()
    assert v1["outside_cell_fraction"] == pytest.approx(outside, abs=1e-6)
    assert not by_lead["II"]["leaves_cell"] and by_lead["II"]["outside_cell_fraction"] == 0.0
