"""predict_folder: one CSV row per scan, probabilities or embeddings, bad files reported not fatal."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ecgimg.models.image import timm_model
from ecgimg.predict import predict_folder


def _folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg", "c.bmp"):
        Image.fromarray(rng.integers(0, 255, (220, 380, 3), dtype=np.uint8)).save(tmp_path / name)  # page-sized
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    return tmp_path


def test_images_that_are_not_pages_are_reported_not_dropped(tmp_path):
    folder = _folder(tmp_path)
    Image.new("RGB", (300, 90), (250, 230, 230)).save(folder / "lead-ii.png")  # a single-lead crop
    model = timm_model("resnet10t", num_classes=1, input_size=48)
    table = predict_folder(model, folder, class_names=["af"])
    row = table[table["file"] == "lead-ii.png"].iloc[0]
    assert "not a page" in row["error"] and np.isnan(row["prob_af"])
    assert len(table) == 5


def test_probabilities_csv(tmp_path):
    folder = _folder(tmp_path / "scans" if (tmp_path / "scans").mkdir() is None else tmp_path)
    model = timm_model("resnet10t", num_classes=2, input_size=48)
    table = predict_folder(model, folder, tmp_path / "out" / "pred.csv", class_names=["af", "lvsd"], batch_size=2)
    back = pd.read_csv(tmp_path / "out" / "pred.csv", keep_default_na=False)
    assert list(back["file"]) == ["a.png", "b.jpg", "broken.png", "c.bmp"]
    assert list(table.columns) == ["file", "prob_af", "prob_lvsd", "error"]
    ok = table[table["error"] == ""]
    assert len(ok) == 3 and ((ok[["prob_af", "prob_lvsd"]] > 0) & (ok[["prob_af", "prob_lvsd"]] < 1)).all().all()
    bad = table[table["file"] == "broken.png"].iloc[0]
    assert "cannot decode" in bad["error"] and np.isnan(bad["prob_af"])


def test_embeddings_match_direct_forward(tmp_path):
    folder = _folder(tmp_path)
    model = timm_model("resnet10t", proj_dim=8, proj_hidden=16, input_size=48).eval()
    table = predict_folder(model, folder, head="projection")
    from ecgimg.data.images import ScanFolder
    x = ScanFolder(folder, image_size=48)[0]["image"][None]
    with torch.no_grad():
        direct = model(x, head="projection")[0].numpy()
    np.testing.assert_allclose(table.iloc[0][[f"emb_{k}" for k in range(8)]].to_numpy(float), direct, rtol=1e-4, atol=1e-5)
