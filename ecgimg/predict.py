"""Run an image model on a folder of real ECG scans/photos and write one CSV row per file.

`ecgimg predict` (wired by the CLI) calls `predict_folder`. Files that cannot be decoded or are
absurdly large are reported in an `error` column instead of stopping the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ecgimg.data.images import ImageFileError, ScanFolder
from ecgimg.train.predict import predict


class _SafeScans(torch.utils.data.Dataset):
    """ScanFolder that turns a bad file into an error row rather than a crashed batch."""

    def __init__(self, scans: ScanFolder):
        self.scans = scans

    def __len__(self) -> int:
        return len(self.scans)

    def __getitem__(self, index: int) -> dict:
        try:
            sample = self.scans[index]
            sample["error"] = ""
        except ImageFileError as err:
            channels = 1 if self.scans.grayscale else 3
            size = self.scans.image_size
            sample = {"image": torch.zeros(channels, size, size), "index": index,
                      "file": self.scans.files[index].relative_to(self.scans.root).as_posix(),
                      "error": err.reason if hasattr(err, "reason") else str(err)}
        sample.pop("target", None)
        return sample


def predict_folder(model: torch.nn.Module, folder: str | Path, out_csv: str | Path | None = None,
                   image_size: int | None = None, grayscale: bool | None = None,
                   class_names: Sequence[str] | None = None, batch_size: int = 16, num_workers: int = 0,
                   device: str | torch.device = "cpu", head: str | None = None,
                   recursive: bool = True, crop: str = "grid") -> pd.DataFrame:
    """Probabilities (sigmoid of multi-label logits) per image, or embeddings when head="projection"
    or "features" (columns emb_0..). Returns the table and writes it to `out_csv` when given.
    `crop` must match how the model's training pages were cut: "grid" (the lead grid, stretched)
    or "page" (the letterboxed page)."""
    image_size = image_size or int(getattr(model, "input_size", 300))
    if grayscale is None:
        grayscale = int(getattr(model, "in_chans", 3)) == 1
    if head is None:
        head = "logits" if getattr(model, "classifier", None) is not None else "projection"
    scans = ScanFolder(folder, image_size=image_size, grayscale=grayscale, recursive=recursive,
                       crop=crop)
    loader = torch.utils.data.DataLoader(_SafeScans(scans), batch_size=batch_size, num_workers=num_workers)
    files, errors = [], []

    def forward(model: torch.nn.Module, batch: dict) -> torch.Tensor:
        files.extend(batch["file"])  # strings: predict() keeps only tensors, so collect them here
        errors.extend(batch["error"])
        out = model(batch["image"], head=head).float()
        return torch.sigmoid(out) if head == "logits" else out

    values = predict(model.to(device), loader, forward=forward, keep_keys=(), device=device)["output"]
    for name in scans.skipped:  # not a page (single-lead crop, strip): reported, not dropped
        files.append(name)
        errors.append(f"not a page image (short side < {scans.min_side_px} px or wider than "
                      f"{scans.max_aspect:g}:1); skipped")
        values = np.concatenate([values, np.full((1, values.shape[1]), np.nan, values.dtype)])
    bad = np.array([bool(e) for e in errors])
    values[bad] = np.nan
    if head == "logits":
        names = list(class_names) if class_names else [f"class_{k}" for k in range(values.shape[1])]
        if len(names) != values.shape[1]:
            raise ValueError(f"{len(names)} class names for a model with {values.shape[1]} outputs")
        columns = [f"prob_{n}" for n in names]
    else:
        columns = [f"emb_{k}" for k in range(values.shape[1])]
    table = pd.concat([pd.DataFrame({"file": files}), pd.DataFrame(values, columns=columns),
                       pd.DataFrame({"error": errors})], axis=1)
    if out_csv is not None:
        Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out_csv, index=False)
    return table
