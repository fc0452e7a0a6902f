"""Image statistics that tell real ECG scans from rendered ones (the realism benchmark's feature test).

Colour and paper grey, edges, radial spectrum, local contrast, flat-region noise, JPEG 8x8
blockiness, and the printed grid's period/strength/region (`ecgimg.data.scan_crop`, always loaded
from this checkout so that the instrument stays fixed while PYTHONPATH selects the renderer).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

# the measuring instrument always comes from this tree, whatever renderer PYTHONPATH selects
_spec = importlib.util.spec_from_file_location("_scan_crop", REPO / "ecgimg" / "data" / "scan_crop.py")
scan_crop = importlib.util.module_from_spec(_spec)
sys.modules["_scan_crop"] = scan_crop
_spec.loader.exec_module(scan_crop)


def _radial_bands(grey: np.ndarray, n_bands: int = 8) -> np.ndarray:
    g = grey[: min(512, grey.shape[0]), : min(512, grey.shape[1])].astype(np.float32)
    g = (g - g.mean()) * np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))
    p = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    yy, xx = np.indices(p.shape)
    r = np.hypot((yy - p.shape[0] / 2) / p.shape[0], (xx - p.shape[1] / 2) / p.shape[1])
    edges = np.geomspace(0.01, 0.5, n_bands + 1)
    bands = np.array([p[(r >= a) & (r < b)].mean() for a, b in zip(edges[:-1], edges[1:])])
    logb = np.log10(bands + 1e-6)
    axis_peak = np.log10((p.max(axis=0)[p.shape[1] // 2 + 4:].max() + 1) / (np.median(p) + 1))
    return np.r_[logb - logb.mean(), logb.mean(), axis_peak]


def _blockiness(grey: np.ndarray) -> list[float]:
    """JPEG 8x8 grid: mean |step| at column/row offsets = 7 mod 8 vs the other phases."""
    g = grey.astype(np.float32)
    out = []
    for d in (np.abs(np.diff(g, axis=1)).mean(axis=0), np.abs(np.diff(g, axis=0)).mean(axis=1)):
        n = len(d) // 8 * 8
        phases = d[:n].reshape(-1, 8).mean(axis=0)
        out += [float(phases.max() / (np.median(phases) + 1e-3)), float(phases[7] / (np.median(phases) + 1e-3))]
    return out


def features(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    f: list[float] = []
    for c in range(3):
        ch = rgb[..., c].astype(np.float32)
        f += [ch.mean(), ch.std(), *np.percentile(ch, [2, 10, 50, 90, 98])]
    sat = hsv[..., 1].astype(np.float32)
    f += [sat.mean(), *np.percentile(sat, [50, 90, 99])]
    hue = hsv[..., 0][sat > 40]
    hist = np.bincount((hue.astype(int) * 8 // 180).clip(0, 7), minlength=8) / max(len(hue), 1)
    f += list(hist) + [len(hue) / sat.size]
    paper = float(np.percentile(grey, 80))
    f += [paper, (rgb[..., 0].astype(float).mean() - rgb[..., 2].mean()),
          (grey < 80).mean(), (grey < 140).mean(), (grey < paper - 40).mean()]
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    mag = cv2.magnitude(gx, gy)
    f += [(mag > 100).mean(), (mag > 250).mean()]  # edge density (cv2.Canny crashes in OpenCV 5.0.0)
    f += [mag.mean(), *np.percentile(mag, [50, 90, 99])]
    f += list(_radial_bands(grey))
    g = grey.astype(np.float32)
    local_std = np.sqrt(np.maximum(cv2.blur(g * g, (8, 8)) - cv2.blur(g, (8, 8)) ** 2, 0))
    f += list(np.percentile(local_std, [10, 50, 90, 99]))
    resid = g - cv2.medianBlur(grey, 3).astype(np.float32)
    flat = local_std < max(2.0, np.percentile(local_std, 30))
    f += [float(np.abs(resid[flat]).mean()) if flat.any() else 0.0, float(np.abs(resid).mean()),
          float(cv2.Laplacian(g, cv2.CV_32F)[flat].std()) if flat.any() else 0.0]
    f += _blockiness(grey)
    found = scan_crop.find_grid(rgb)
    h, w = rgb.shape[:2]
    f += [found.score, np.log(found.px_per_mm or 1.0), float(found.px_per_mm is None),
          np.log(w / (found.px_per_mm or 4.35)), np.log(w / h), np.log(h * w)]
    x0, y0, x1, y1 = found.box
    f += [(x1 - x0) * (y1 - y0) / (h * w)]
    return np.nan_to_num(np.asarray(f, np.float64))


FEATURE_NAMES = (
    [f"{c}_{s}" for c in "RGB" for s in ("mean", "std", "p2", "p10", "p50", "p90", "p98")]
    + ["sat_mean", "sat_p50", "sat_p90", "sat_p99"] + [f"hue_bin{k}" for k in range(8)] + ["coloured_frac"]
    + ["paper_grey", "red_minus_blue", "dark80_frac", "dark140_frac", "ink_frac", "edge100_frac",
       "edge250_frac", "grad_mean", "grad_p50", "grad_p90", "grad_p99"]
    + [f"spectrum_band{k}" for k in range(8)] + ["spectrum_level", "spectrum_axis_peak"]
    + [f"local_std_p{q}" for q in (10, 50, 90, 99)] + ["flat_noise", "median_resid", "flat_laplacian_std"]
    + ["block_x_max", "block_x_7", "block_y_max", "block_y_7"]
    + ["grid_score", "log_px_per_mm", "no_grid", "log_width_mm", "log_aspect", "log_pixels", "grid_area_frac"])


def giveaways(real_f: np.ndarray, gen_f: np.ndarray, k: int = 6) -> str:
    """The single features that best tell generated from real (univariate AUROC, both ways)."""
    from sklearn.metrics import roc_auc_score
    y = np.r_[np.zeros(len(real_f)), np.ones(len(gen_f))]
    x = np.vstack([real_f, gen_f])
    auc = np.array([roc_auc_score(y, x[:, j]) if x[:, j].std() > 0 else 0.5 for j in range(x.shape[1])])
    order = np.argsort(-np.abs(auc - 0.5))[:k]
    return ", ".join(f"{FEATURE_NAMES[j]} {auc[j]:.2f} (real {np.median(real_f[:, j]):.3g} / gen "
                     f"{np.median(gen_f[:, j]):.3g})" for j in order)
