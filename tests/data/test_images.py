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
    ds = ScanFolder(tmp_path, labels_csv=tmp_path / "labels.csv", image_size=32, grayscale=True)
    assert [ds[i]["file"] for i in range(3)] == ["a.png", "b.jpg", "sub/c.bmp"]
    assert ds.class_names == ["af", "lvsd"]
    assert ds[0]["image"].shape == (1, 32, 32)
    assert ds[0]["target"].tolist() == [1.0, 0.0]
    assert np.isnan(ds[1]["target"].numpy()).all()  # unlabelled file: NaN targets, not dropped
    assert ds[2]["target"].tolist() == [0.0, 1.0]


def test_scanfolder_empty_folder_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image files"):
        ScanFolder(tmp_path)


@pytest.mark.shared_data
def test_real_scans_all_52_load(shared_data):
    ds = ScanFolder(shared_data / "scans", image_size=96, recursive=False)
    assert len(ds) == 52
    loader = torch.utils.data.DataLoader(ds, batch_size=13, num_workers=0)
    images = torch.cat([b["image"] for b in loader])
    assert images.shape == (52, 3, 96, 96) and torch.isfinite(images).all()
    # each scan has content, not a blank page
    assert (images.flatten(1).std(dim=1) > 0.05).all()
