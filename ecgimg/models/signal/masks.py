"""Token masks for latent-prediction pretraining (JEPA): contiguous blocks along time.

ECG-JEPA (seeds/003) masks 75–85% of the record in contiguous time blocks of at least 0.5 s, so the
predictor must infer whole beats, not interpolate neighbouring samples. Every sample in a batch gets
the same *number* of masked time steps (fresh positions), so masked/visible token sets stack into
rectangular tensors.
"""
from __future__ import annotations

import torch


def _composition(total: int, parts: int, minimum: int, gen: torch.Generator) -> list[int]:
    """Split `total` into `parts` integers each >= `minimum`, uniformly at random (stars and bars)."""
    free = total - parts * minimum
    cuts = sorted(torch.randint(0, free + 1, (parts - 1,), generator=gen).tolist())
    edges = [0, *cuts, free]
    return [minimum + edges[i + 1] - edges[i] for i in range(parts)]


def time_block_mask(batch: int, n_time: int, ratio_range: tuple[float, float] = (0.75, 0.85),
                    min_block: int = 1, gen: torch.Generator | None = None) -> torch.Tensor:
    """(batch, n_time) bool mask, True = masked; contiguous blocks of length >= `min_block` steps.

    The ratio is drawn once per batch from `ratio_range`; the masked count is rounded to whole time
    steps and kept below n_time so at least one step stays visible for the context encoder.
    """
    if not 0.0 < ratio_range[0] <= ratio_range[1] < 1.0:
        raise ValueError(f"mask ratio range must lie in (0, 1), got {ratio_range}")
    if min_block < 1 or min_block > n_time:
        raise ValueError(f"min_block must be in [1, {n_time}], got {min_block}")
    gen = gen if gen is not None else torch.Generator().manual_seed(0)
    ratio = ratio_range[0] + (ratio_range[1] - ratio_range[0]) * torch.rand((), generator=gen).item()
    n_masked = min(max(min_block, round(ratio * n_time)), n_time - 1)
    n_visible = n_time - n_masked
    mask = torch.zeros(batch, n_time, dtype=torch.bool)
    max_blocks = max(1, min(n_masked // min_block, n_visible + 1))
    for row in range(batch):
        n_blocks = int(torch.randint(1, max_blocks + 1, (), generator=gen))
        blocks = _composition(n_masked, n_blocks, min_block, gen)
        # interior gaps >= 1 keep blocks separate; the two outer gaps may be empty (drawn as >= 1
        # from n_visible + 2, then reduced by one)
        gaps = _composition(n_visible + 2, n_blocks + 1, 1, gen)
        gaps[0] -= 1
        gaps[-1] -= 1
        position = 0
        for gap, block in zip(gaps, blocks):
            position += gap
            mask[row, position:position + block] = True
            position += block
    return mask


def expand_time_mask(time_mask: torch.Tensor, n_leads: int) -> torch.Tensor:
    """(B, n_time) → (B, n_leads * n_time) for lead-major tokens: a masked time hides every lead."""
    return time_mask.repeat(1, n_leads)
