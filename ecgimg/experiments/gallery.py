"""A contact sheet of rendered pages: what the image models train on, for a person to look at.

Pages are drawn as training draws them (`RenderedImages` under the config's page policy,
`image.pages`: random layout / paper / scan or photo degradation per seed, the same crop) from
records of the configured data, at a size a person can read, and tiled into one PNG.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ecgimg.experiments import sources
from ecgimg.experiments.schema import ExperimentConfig

#: tile side for a human-readable sheet (px); training size is usually far smaller
VIEWING_SIZE_PX = 480
GAP_PX = 6


def contact_sheet(tiles: list[np.ndarray], columns: int = 4, gap_px: int = GAP_PX) -> np.ndarray:
    """Tile equally sized HxWx3 uint8 images into one grid on a mid-grey background."""
    if not tiles:
        raise ValueError("no images for the contact sheet")
    h, w = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = np.full((rows * h + (rows + 1) * gap_px, columns * w + (columns + 1) * gap_px, 3), 96,
                    dtype=np.uint8)
    for i, tile in enumerate(tiles):
        if tile.shape[:2] != (h, w):
            raise ValueError(f"tile {i} is {tile.shape[:2]}, expected {(h, w)}")
        r, c = divmod(i, columns)
        y, x = gap_px + r * (h + gap_px), gap_px + c * (w + gap_px)
        sheet[y:y + h, x:x + w] = tile[..., :3]
    return sheet


def render_gallery(cfg: ExperimentConfig, out: str | Path, n_images: int = 12,
                   training_size: bool = False, cache=None) -> Path:
    """Render `n_images` random training pages of the config's data (one per patient where possible)
    and write them as one contact-sheet PNG at `out`."""
    from PIL import Image

    from ecgimg.data.images import PAGE_POLICIES, RenderedImages

    cache = cache if cache is not None else sources.open_cache(cfg)
    train = sources.split_indices(cache, "train")
    patients = cache.index["patient_id"].astype(str).to_numpy()[train]
    _, first_of_patient = np.unique(patients, return_index=True)
    rng = np.random.default_rng(cfg.seed)
    picks = train[rng.permutation(np.sort(first_of_patient))[:n_images]]
    size = cfg.image.image_size if training_size else VIEWING_SIZE_PX
    dataset = RenderedImages(cache, indices=picks, seed=cfg.seed, image_size=size,
                             render_dpi=None if not training_size else 100,
                             **PAGE_POLICIES[cfg.image.pages])
    tiles = [dataset.render_view(int(row)) for row in picks]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(contact_sheet(tiles)).save(out)
    return out
