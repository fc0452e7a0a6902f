"""ScanFolder / image decoding (formats, EXIF, bombs, labels) and RenderedImages (on-the-fly render)."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from ecgimg.data.images import (ImageFileError, ScanFolder, letterbox, read_image_rgb, to_tensor)


def _png_header_only(path, width, height):
    """A PNG whose IHDR claims width x height but that carries (almost) no pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def test_huge_image_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 100_000, 100_000)
    with pytest.raises(ImageFileError, match="bomb.png") as err:
        read_image_rgb(bomb)
    assert "pixel" in str(err.value) or "bomb" in str(err.value)
    # under PIL's own bomb threshold our explicit limit still applies
    big = tmp_path / "big.png"
    _png_header_only(big, 8_000, 7_000)
    with pytest.raises(ImageFileError, match="refused before decoding"):
        read_image_rgb(big, max_pixels=50_000_000)


def test_exif_orientation_honoured(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(img).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    out = read_image_rgb(tmp_path / "rot.jpg")
    assert out.shape == (40, 20, 3)
    assert out[:15].mean() > 200 and out[25:].mean() < 50  # white half now on top


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16", "1"])
@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff", ".jpg"])
def test_modes_and_formats_become_rgb(tmp_path, mode, ext):
    base = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1)))
    img = base.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(base, np.uint16) * 200)
    if ext == ".jpg" and mode not in ("L", "1"):
        img = img.convert("RGB")
    if ext == ".bmp" and mode in ("RGBA", "I;16"):
        img = img.convert("RGB")
    path = tmp_path / f"x{ext}"
    img.save(path)
    out = read_image_rgb(path)
    assert out.dtype == np.uint8 and out.shape == (16, 64, 3)


def test_rgba_transparent_becomes_white(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert read_image_rgb(tmp_path / "t.png").min() == 255


def test_corrupt_and_missing_files_are_typed_errors(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ImageFileError, match="junk.png"):
        read_image_rgb(tmp_path / "junk.png")
    with pytest.raises(ImageFileError, match="not found"):
        read_image_rgb(tmp_path / "absent.png")


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16_bit_greyscale_is_scaled_by_bit_depth_not_stretched(tmp_path, ext):
    white = tmp_path / f"white{ext}"
    Image.fromarray(np.full((20, 30), 65535, np.uint16)).save(white)
    assert (read_image_rgb(white) == 255).all()  # an all-white page stays white
    gradient = np.tile(np.linspace(10_000, 20_000, 64).astype(np.uint16), (8, 1))
    Image.fromarray(gradient).save(tmp_path / f"grad{ext}")
    grey = read_image_rgb(tmp_path / f"grad{ext}")[0, :, 0].astype(float)
    assert np.all(np.diff(grey) >= 0)  # monotonic ...
    np.testing.assert_allclose(grey, gradient[0] / 65535 * 255, atol=0.51)  # ... and in proportion


def test_16_bit_rgb_32_bit_and_float_images(tmp_path):
    import cv2
    rgb16 = np.zeros((8, 8, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32768, 1000  # OpenCV writes BGR
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16)
    assert read_image_rgb(tmp_path / "rgb16.png")[0, 0].tolist() == [3, 128, 255]
    for value, expected in ((2 ** 31 - 1, 255), (2 ** 30, 128), (0, 0)):
        Image.fromarray(np.full((4, 4), value, np.int32)).save(tmp_path / "i32.tif")
        assert (read_image_rgb(tmp_path / "i32.tif") == expected).all()
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "half.tif")
    assert (read_image_rgb(tmp_path / "half.tif") == 128).all()
    for name, value, words in (("nan", np.nan, "NaN"), ("big", 3.0, "outside")):
        Image.fromarray(np.full((4, 4), value, np.float32)).save(tmp_path / f"{name}.tif")
        with pytest.raises(ImageFileError, match=f"{name}.tif: float image .*{words}"):
            read_image_rgb(tmp_path / f"{name}.tif")


def test_letterbox_keeps_aspect_and_pads_white():
    page = np.zeros((100, 200, 3), np.uint8)
    out = letterbox(page, 64)
    assert out.shape == (64, 64, 3)
    assert out[:15].min() == 255 and out[49:].min() == 255 and out[17:47].max() == 0


def test_to_tensor_normalises_and_greyscale():
    white = np.full((4, 4, 3), 255, np.uint8)
    rgb, grey = to_tensor(white), to_tensor(white, grayscale=True)
    assert rgb.shape == (3, 4, 4) and grey.shape == (1, 4, 4)
    assert torch.allclose(rgb[:, 0, 0], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))


def test_scanfolder_labels_csv(tmp_path):
    for name in ("a.png", "b.jpg", "sub/c.bmp"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (30, 10), (200, 0, 0)).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("file,af,lvsd,note\na.png,1,0,x\nc,0,1,y\n")
    ds = ScanFolder(tmp_path, labels_csv=tmp_path / "labels.csv", image_size=32, grayscale=True,
                    pages_only=False)
    assert [ds[i]["file"] for i in range(3)] == ["a.png", "b.jpg", "sub/c.bmp"]
    assert ds.class_names == ["af", "lvsd"]
    assert ds[0]["image"].shape == (1, 32, 32)
    assert ds[0]["target"].tolist() == [1.0, 0.0]
    assert np.isnan(ds[1]["target"].numpy()).all()  # unlabelled file: NaN targets, not dropped
    assert ds[2]["target"].tolist() == [0.0, 1.0]


def test_scanfolder_empty_folder_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no page images"):
        ScanFolder(tmp_path)


def _rendered_page(tmp_path, style, seed=0):
    import render
    t = np.arange(5000) / 500.0
    sig = np.stack([np.sin(2 * np.pi * 1.2 * t) ** 15 * (0.6 + 0.08 * k) for k in range(12)])
    r = render.render(sig, 500.0, ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
                      style=style, seed=seed)
    Image.fromarray(r.image).save(tmp_path / f"page{seed}.png")
    return r


@pytest.mark.parametrize("style", ["classic", "thermal", "plain"])
def test_scanfolder_crops_a_whole_page_to_its_lead_grid(tmp_path, style):
    """A whole page with header, footer and margins is cut to about the box training crops use."""
    from ecgimg.data.images import grid_crop
    from ecgimg.data.scan_crop import find_grid
    import render
    r = _rendered_page(tmp_path, render.get_style(style, dpi=110))
    x0, y0, x1, y1 = find_grid(r.image).box
    cells = np.concatenate([np.asarray(p["cell_quad"]) for p in r.truth["panels"]])
    tx0, ty0 = cells.min(axis=0)
    tx1, ty1 = cells.max(axis=0)
    inter = max(0, min(x1, tx1) - max(x0, tx0)) * max(0, min(y1, ty1) - max(y0, ty0))
    iou = inter / ((x1 - x0) * (y1 - y0) + (tx1 - tx0) * (ty1 - ty0) - inter)
    if style != "plain":
        assert iou > 0.85, (style, (x0, y0, x1, y1), (tx0, ty0, tx1, ty1))
        assert find_grid(r.image).px_per_mm == pytest.approx(110 / 25.4, rel=0.02)
    else:  # no grid: the trace ink decides; every trace point is inside, the margins are not
        pts = np.concatenate([np.stack([p["x"], p["y"]], axis=1) for p in r.truth["panels"]])
        tol = 0.02 * r.image.shape[0]  # crop_to_grid adds a 2 % margin
        inside = (pts[:, 0] >= x0 - tol) & (pts[:, 0] <= x1 + tol) & (pts[:, 1] >= y0 - tol) & (pts[:, 1] <= y1 + tol)
        assert inside.mean() > 0.99 and iou > 0.6
        assert (x1 - x0) * (y1 - y0) < 0.85 * r.image.shape[0] * r.image.shape[1]
    ds = ScanFolder(tmp_path, image_size=64)
    expected = np.asarray(ds.model_input(r.image))
    assert ds[0]["image"].shape == (3, 64, 64)
    assert expected.shape == (64, 64, 3)
    # the header band (no grid, text) is not in the crop: the crop's top rows look like the grid
    training = grid_crop(r.image, r.truth)
    assert abs(training.shape[1] / training.shape[0] - (x1 - x0) / (y1 - y0)) < 0.25
    letterboxed = ScanFolder(tmp_path, image_size=64, crop="page")[0]["image"]
    assert not torch.equal(letterboxed, ds[0]["image"])


def test_scanfolder_skips_images_too_small_or_narrow_for_a_page(tmp_path):
    Image.new("RGB", (300, 90), (255, 240, 240)).save(tmp_path / "lead-ii.png")  # a single-lead crop
    Image.new("RGB", (2800, 700), (255, 240, 240)).save(tmp_path / "strip.png")  # a rhythm strip
    Image.new("RGB", (1200, 600), (255, 240, 240)).save(tmp_path / "page.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")  # kept: reading it reports the problem
    ds = ScanFolder(tmp_path, image_size=32)
    assert [f.name for f in ds.files] == ["broken.png", "page.png"]
    assert sorted(ds.skipped) == ["lead-ii.png", "strip.png"]
    assert len(ScanFolder(tmp_path, image_size=32, pages_only=False)) == 4


@pytest.mark.shared_data
def test_real_scans_all_52_load(shared_data):
    ds = ScanFolder(shared_data / "scans", image_size=96, crop="page")  # sample-segments/ are not pages
    assert len(ds) == 52 and len(ds.skipped) == 77
    assert all(s.startswith("sample-segments/") for s in ds.skipped)
    loader = torch.utils.data.DataLoader(ds, batch_size=13, num_workers=0)
    images = torch.cat([b["image"] for b in loader])
    assert images.shape == (52, 3, 96, 96) and torch.isfinite(images).all()
    # each scan has content, not a blank page
    assert (images.flatten(1).std(dim=1) > 0.05).all()


# ---------------------------------------------------------------- RenderedImages
from ecgimg.data.images import RenderedImages  # noqa: E402
from ecgimg.data.pairs import PatientViewSampler, ViewLoader  # noqa: E402

FIXED = {"layout": "3x4+1R", "style": "classic", "degrade": None}


@pytest.fixture(scope="module")
def cohort():
    from ecgimg.data import synthetic_cohort
    return synthetic_cohort(4, 2, seed=0)


def test_rendered_fixed_policy_shapes_targets_patients(cohort):
    ds = RenderedImages(cohort, seed=0, image_size=64, policy=FIXED, task="lvsd")
    s = ds[3]
    assert s["image"].shape == (3, 64, 64) and s["image"].dtype == torch.float32
    assert s["index"] == 3 and s["patient"] == ds.patient[3]
    assert s["target"].tolist() == [float(cohort[3].labels["lvsd"])]
    # the two ECGs of one patient share a code, other patients differ
    assert ds.patient[0] == ds.patient[1] != ds.patient[2]
    grey = RenderedImages(cohort, image_size=64, policy=FIXED, grayscale=True)
    assert grey[0]["image"].shape == (1, 64, 64)
    # a rendered page is mostly paper with some ink
    assert s["image"].std() > 0.1


def test_rendered_subset_indices_map_to_source_rows(cohort):
    ds = RenderedImages(cohort, indices=[5, 2], image_size=48, policy=FIXED)
    assert len(ds) == 2 and ds[0]["index"] == 5 and ds[(1, 0, 0)]["index"] == 2
    assert list(ds.patient_of_position) == [ds.patient[5], ds.patient[2]]


def test_rendered_random_policy_is_seeded_per_epoch_index_view(cohort):
    ds = RenderedImages(cohort, seed=7, image_size=64)
    a, b = ds[(0, 0, 0)]["image"], ds[(0, 0, 0)]["image"]
    assert torch.equal(a, b)
    assert not torch.equal(a, ds[(0, 1, 0)]["image"])  # another view: another layout/style
    assert not torch.equal(a, ds[(0, 0, 1)]["image"])  # another epoch
    assert not torch.equal(a, RenderedImages(cohort, seed=8, image_size=64)[(0, 0, 0)]["image"])
    ds.set_epoch(1)
    assert torch.equal(ds[0]["image"], ds[(0, 0, 1)]["image"])


def test_rendered_deterministic_across_worker_processes(cohort):
    ds = RenderedImages(cohort, seed=3, image_size=48, policy=FIXED)
    sampler = PatientViewSampler(ds.patient_of_position, patients_per_batch=2, seed=0)
    main = [b["image"] for b in ViewLoader(ds, sampler, num_workers=0)]
    worker = [b["image"] for b in ViewLoader(ds, sampler, num_workers=1)]
    assert len(main) == 2 and all(torch.equal(x, y) for x, y in zip(main, worker))


def test_view_batches_feed_bcl(cohort):
    from ecgimg.models.image import timm_model
    from ecgimg.ssl.bcl import BCLObjective
    ds = RenderedImages(cohort, seed=0, image_size=48, policy=FIXED)
    loader = ViewLoader(ds, PatientViewSampler(ds.patient_of_position, patients_per_batch=4, seed=0))
    batch = next(iter(loader))
    assert batch["image"].shape == (8, 3, 48, 48)
    patients = batch["patient"].tolist()
    assert all(patients.count(p) == 2 for p in patients)
    # views of a patient are two different ECGs (each patient has 2)
    assert len(set(batch["index"].tolist())) == 8
    model = timm_model("resnet10t", proj_dim=8, proj_hidden=16)
    out = BCLObjective()(model, batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and float(out["loss"].detach()) > 0
    loader.set_epoch(3)
    assert next(iter(loader))["view"].tolist() == [0, 1] * 4


def test_offline_pages_mode(tmp_path, cohort):
    for rec in cohort[:2]:
        Image.new("RGB", (110, 85), (255, 0, 0)).save(tmp_path / f"{rec.record_id}.png")
    ds = RenderedImages(cohort, indices=[0, 1, 2], image_size=32, pages_dir=tmp_path)
    img = ds[0]["image"]
    assert img.shape == (3, 32, 32)
    with pytest.raises(ImageFileError, match="ecg-render"):
        ds[2]


def test_grid_crop_cuts_to_panels_and_stretch_is_square():
    from ecgimg.data.images import grid_crop, stretch
    page = np.full((100, 200, 3), 255, np.uint8)
    truth = {"panels": [{"cell_quad": [[20, 30], [120, 30], [120, 50], [20, 50]]},
                        {"cell_quad": [[120, 50], [180, 50], [180, 90], [120, 90]]}]}
    crop = grid_crop(page, truth, margin_frac=0.0)
    assert crop.shape[:2] == (60, 160)  # y 30..90, x 20..180
    assert grid_crop(page, {"panels": []}) is page  # nothing known: whole page
    # a quad outside the image (perspective) is clipped, never an empty crop
    far = {"panels": [{"cell_quad": [[-50, -20], [400, -20], [400, 300], [-50, 300]]}]}
    assert grid_crop(page, far).shape == page.shape
    assert stretch(crop, 32).shape == (32, 32, 3)


def test_rendered_options_are_validated(cohort):
    with pytest.raises(ValueError, match="crop"):
        RenderedImages(cohort, crop="lead")
    with pytest.raises(ValueError, match="orientation"):
        RenderedImages(cohort, orientation="sideways")
    with pytest.raises(ValueError, match="oversample"):
        RenderedImages(cohort, oversample=0.5)


def test_pretrain_pages_fill_the_square_with_ink_and_are_seeded(cohort):
    """PAGE_POLICIES["readable"]: the lead grid stretched over the whole input (no white letterbox bands), traces
    kept (no photocopy thresholding), deterministic per (seed, epoch, index, view)."""
    from ecgimg.data.images import PAGE_POLICIES
    ds = RenderedImages(cohort, seed=1, image_size=64, **PAGE_POLICIES["readable"])
    for view in range(3):
        img = ds.render_view(0, view)
        assert img.shape == (64, 64, 3)
        assert torch.equal(ds[(0, view, 0)]["image"], ds[(0, view, 0)]["image"])
        # ink (dark pixels) in the top and bottom fifth: the grid spans the height
        dark = img.min(axis=2) < 200
        assert dark[:13].any() and dark[-13:].any()


@pytest.mark.shared_data
def test_real_scans_grid_scale_and_region_are_plausible(shared_data):
    """On every real scan: a grid period giving a page 95-330 mm wide (real ECGs show 2.5-10 s at
    25 mm/s plus margins), and a region that keeps most of the image (they are mostly tight crops)."""
    from ecgimg.data.scan_crop import find_grid
    ds = ScanFolder(shared_data / "scans", image_size=96)
    widths, kept = [], []
    for path in ds.files:
        rgb = read_image_rgb(path)
        found = find_grid(rgb)
        assert found.px_per_mm is not None, path.name
        widths.append(rgb.shape[1] / found.px_per_mm)
        x0, y0, x1, y1 = found.box
        kept.append((x1 - x0) * (y1 - y0) / (rgb.shape[0] * rgb.shape[1]))
    assert 95 <= min(widths) and max(widths) <= 330, (min(widths), max(widths))
    assert np.median(kept) > 0.85 and min(kept) > 0.3


def test_printed_pages_have_no_scan_effects_and_readable_pages_do(cohort, monkeypatch):
    """PAGE_POLICIES["printed"] draws the readable layouts and paper styles without any scan/photo
    effect (what the demo's image arms can learn from); "readable" adds them to most pages."""
    import render
    from ecgimg.data.images import PAGE_POLICIES, READABLE_LAYOUTS
    drawn = []
    real_render = render.render

    def spy(*args, **kwargs):
        drawn.append((kwargs["layout"].name, kwargs["degrade"]))
        return real_render(*args, **kwargs)

    monkeypatch.setattr(render, "render", spy)
    for policy in ("printed", "readable"):
        drawn.clear()
        ds = RenderedImages(cohort, seed=2, image_size=48, **PAGE_POLICIES[policy])
        for view in range(8):
            ds.render_view(view % len(cohort), view)
        assert {name for name, _ in drawn} <= set(READABLE_LAYOUTS)
        effects = [d is not None and bool(d.enabled()) for _, d in drawn]
        if policy == "printed":
            assert not any(effects)
        else:
            assert sum(effects) >= 6
