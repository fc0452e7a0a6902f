"""The MAE paper's qualitative figure: original, masked and reconstructed ECG, lead by lead.

``plot_reconstruction`` draws one row per lead and three columns - (a) original, (b) masked (the
hidden 0.5 s patches greyed out), (c) reconstructed (visible signal in black, the model's
prediction for the hidden patches in red over the true signal in light grey). Lead II and V5 by
default, as in the paper; ``plot_reconstruction_all_leads`` shows all leads.
``reconstruction_figure(model, signal, out_dir, seed)`` runs an MAE's ``reconstruct`` and writes
both PNGs (what the CLI calls).

Uses matplotlib's object API with the Agg canvas (no pyplot state), like ``evaluate.plots``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ecgimg.data.record import normalize_lead_name

DEFAULT_LEADS_TO_SHOW = ("II", "V5")
#: what the three colours and the shading mean (one legend under the figure)
LEGEND_HANDLES = [Line2D([], [], color="black", lw=1, label="signal the encoder saw"),
                  Patch(color="0.88", label="masked 0.5 s patch (hidden from the encoder)"),
                  Line2D([], [], color="0.6", lw=1, label="true hidden signal"),
                  Line2D([], [], color="tab:red", lw=1, label="MAE reconstruction of the hidden signal")]
_COLUMNS = ("(a) original", "(b) masked", "(c) reconstructed")


def _as_2d(name: str, array) -> np.ndarray:
    values = np.asarray(array)
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2:
        raise ValueError(f"{name} must be (n_leads, n_samples), got shape {values.shape}")
    return values


def masked_spans(row_mask: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs [start, stop) of True samples in one lead's mask."""
    padded = np.concatenate([[False], row_mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _lead_rows(leads: Sequence[str], leads_to_show: Sequence[str] | None) -> list[int]:
    names = [normalize_lead_name(str(n)) for n in leads]
    if leads_to_show is None:
        return list(range(len(names)))
    rows = []
    for wanted in leads_to_show:
        key = normalize_lead_name(str(wanted))
        if key not in names:
            raise ValueError(f"lead {wanted!r} is not in this signal's leads {tuple(names)}")
        rows.append(names.index(key))
    return rows


def plot_reconstruction(original, masked_mask, reconstructed, fs: float, leads: Sequence[str],
                        out_png: str | Path, leads_to_show: Sequence[str] | None = DEFAULT_LEADS_TO_SHOW,
                        title: str | None = None) -> Path:
    """Write the original / masked / reconstructed figure for the chosen leads; returns the path.

    ``original`` and ``reconstructed`` are (n_leads, n_samples) in mV, ``masked_mask`` is True
    where a sample was hidden from the encoder; ``leads`` names the rows; ``fs`` is in Hz.
    ``leads_to_show=None`` shows every lead.
    """
    original = _as_2d("original", original).astype(np.float64)
    reconstructed = _as_2d("reconstructed", reconstructed).astype(np.float64)
    mask = _as_2d("masked_mask", masked_mask).astype(bool)
    if not original.shape == reconstructed.shape == mask.shape:
        raise ValueError(f"shapes differ: original {original.shape}, masked_mask {mask.shape}, "
                         f"reconstructed {reconstructed.shape}")
    if len(leads) != original.shape[0]:
        raise ValueError(f"{len(leads)} lead names for {original.shape[0]} signal rows")
    if fs <= 0:
        raise ValueError(f"fs must be positive (Hz), got {fs}")
    rows = _lead_rows(leads, leads_to_show)
    seconds = np.arange(original.shape[1]) / float(fs)

    figure = Figure(figsize=(15, 1.0 + 1.35 * len(rows)), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(rows), 3, sharex=True, squeeze=False)
    for r, lead_row in enumerate(rows):
        truth, recon, hidden = original[lead_row], reconstructed[lead_row], mask[lead_row]
        spans = masked_spans(hidden)
        finite = np.concatenate([truth[np.isfinite(truth)], recon[hidden & np.isfinite(recon)]])
        low, high = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
        pad = 0.08 * max(high - low, 0.2)
        for c, ax in enumerate(axes[r]):
            if c > 0:
                for start, stop in spans:
                    ax.axvspan(seconds[start], seconds[stop - 1], color="0.88", lw=0)
            if c == 0:
                ax.plot(seconds, truth, color="black", lw=0.7)
            elif c == 1:
                ax.plot(seconds, np.where(hidden, np.nan, truth), color="black", lw=0.7)
            else:
                ax.plot(seconds, np.where(hidden, truth, np.nan), color="0.6", lw=0.7)
                ax.plot(seconds, np.where(hidden, np.nan, truth), color="black", lw=0.7)
                ax.plot(seconds, np.where(hidden, recon, np.nan), color="tab:red", lw=0.8)
            ax.set_ylim(low - pad, high + pad)
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(_COLUMNS[c], fontsize=10)
        axes[r][0].set_ylabel(f"{normalize_lead_name(str(leads[lead_row]))}\nmV", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.legend(handles=LEGEND_HANDLES, loc="lower center", ncol=len(LEGEND_HANDLES),
                  fontsize=8, frameon=False)
    # room above the column titles for the suptitle (~0.45 inch) and below for the legend
    bottom = 0.3 / figure.get_figheight()
    figure.tight_layout(rect=(0, bottom, 1, 1 - 0.45 / figure.get_figheight() if title else 1))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png)
    return out_png


def plot_reconstruction_all_leads(original, masked_mask, reconstructed, fs: float,
                                  leads: Sequence[str], out_png: str | Path,
                                  title: str | None = None) -> Path:
    """The same figure with every lead, one row each."""
    return plot_reconstruction(original, masked_mask, reconstructed, fs, leads, out_png,
                               leads_to_show=None, title=title)


def reconstruction_figure(model, signal, out_dir: str | Path, seed: int = 0,
                          mask_ratio: float = 0.75, stem: str = "mae_recon",
                          leads_to_show: Sequence[str] = DEFAULT_LEADS_TO_SHOW) -> dict[str, Path]:
    """Run ``model.reconstruct`` on one ECG (n_leads, n_samples) in mV and write both figures.

    Returns ``{"leads": <stem>_leads.png, "all": <stem>_all.png}`` in ``out_dir``. Leads the model
    does not have are skipped from ``leads_to_show`` (the first lead stands in if none remain).
    """
    import torch  # local: keeps this module importable for plotting without torch

    encoder = model.encoder
    x = torch.as_tensor(np.asarray(signal, dtype=np.float32))
    x = x.unsqueeze(0) if x.ndim == 2 else x
    device = next(model.parameters()).device
    out = model.reconstruct(x[:1].to(device), mask_ratio=mask_ratio, seed=seed)
    original, hidden, recon = (out[k][0].cpu().numpy() for k in ("original", "sample_mask", "reconstructed"))
    shown = [name for name in leads_to_show if normalize_lead_name(name) in encoder.leads]
    shown = shown or [encoder.leads[0]]
    title = (f"MAE reconstruction - {round(mask_ratio * 100)}% of {encoder.patch_samples}-sample "
             f"patches masked, seed {seed}, masked-patch MSE {float(out['loss']):.3f} (normalised units)")
    out_dir = Path(out_dir)
    return {
        "leads": plot_reconstruction(original, hidden, recon, encoder.fs, encoder.leads,
                                     out_dir / f"{stem}_leads.png", leads_to_show=shown, title=title),
        "all": plot_reconstruction_all_leads(original, hidden, recon, encoder.fs, encoder.leads,
                                             out_dir / f"{stem}_all.png", title=title),
    }
