"""Beat morphology: eight Gaussian waves in time, each with a 3-D dipole vector, and theta.

The heart vector of one beat is H(t) = sum_w v_w * exp(-(t - c_w)^2 / (2 s_w^2)) (mV) with
t relative to the beat's fiducial (the QRS energy peak that `measure.detect_r_peaks` finds).
Two atrial waves let P be biphasic in V1; two ventricular R waves sweep the QRS loop; two T
waves make T asymmetric. Coordinates: x = patient's left, y = inferior, z = anterior.

theta is the flat per-patient parameter vector the PTB-XL fit produces and the cohort samples:
wave centres (s; T centres divided by sqrt(RR s), i.e. Bazett-normalised), log widths (log s),
wave vectors (mV), log RR (s), log RR coefficient of variation, chest lead vectors (6 x 3).
"""
from __future__ import annotations

import numpy as np

WAVES = ("P1", "P2", "Q", "R1", "R2", "S", "T1", "T2")
#: Per wave: centre range (s), width range (s), initial centre and width for the fit.
WAVE_BOUNDS = {
    "P1": (-0.30, -0.06, 0.008, 0.045, -0.17, 0.02),
    "P2": (-0.26, -0.04, 0.008, 0.045, -0.13, 0.02),
    "Q": (-0.07, 0.0, 0.003, 0.025, -0.025, 0.008),
    "R1": (-0.04, 0.03, 0.003, 0.035, -0.008, 0.01),
    "R2": (-0.02, 0.07, 0.003, 0.035, 0.01, 0.01),
    "S": (0.0, 0.11, 0.003, 0.035, 0.03, 0.012),
    "T1": (0.10, 0.45, 0.02, 0.13, 0.24, 0.05),
    "T2": (0.14, 0.52, 0.012, 0.09, 0.31, 0.03),
}
N_WAVES = len(WAVES)
LEAD_NAMES_CHEST = ("V1", "V2", "V3", "V4", "V5", "V6")
THETA_NAMES = (
    [f"centre_{w}" for w in WAVES] + [f"logwidth_{w}" for w in WAVES]
    + [f"vec_{w}_{axis}" for w in WAVES for axis in "xyz"] + ["log_rr", "log_rr_cv"]
    + [f"chest_{lead}_{axis}" for lead in LEAD_NAMES_CHEST for axis in "xyz"])
N_THETA = len(THETA_NAMES)
CENTRES = slice(0, N_WAVES)
LOG_WIDTHS = slice(N_WAVES, 2 * N_WAVES)
VECTORS = slice(2 * N_WAVES, 5 * N_WAVES)
LOG_RR, LOG_RR_CV = 5 * N_WAVES, 5 * N_WAVES + 1
CHEST = slice(5 * N_WAVES + 2, 5 * N_WAVES + 20)
T_WAVES = np.array([w.startswith("T") for w in WAVES])
P_WAVES = np.array([w.startswith("P") for w in WAVES])
QRS_WAVES = ~(T_WAVES | P_WAVES)


def beat_basis(t_s: np.ndarray, centres_s: np.ndarray, widths_s: np.ndarray) -> np.ndarray:
    """(len(t), W) Gaussians of unit height, one column per wave."""
    return np.exp(-0.5 * ((t_s[:, None] - centres_s[None, :]) / widths_s[None, :]) ** 2)


def clip_theta(theta: np.ndarray) -> np.ndarray:
    """Keep sampled centres and widths inside the fitted ranges and the waves in order."""
    theta = theta.copy()
    lo_c = np.array([b[0] for b in WAVE_BOUNDS.values()])
    hi_c = np.array([b[1] for b in WAVE_BOUNDS.values()])
    lo_w = np.log([b[2] for b in WAVE_BOUNDS.values()])
    hi_w = np.log([b[3] for b in WAVE_BOUNDS.values()])
    theta[..., CENTRES] = np.clip(theta[..., CENTRES], lo_c, hi_c)
    theta[..., LOG_WIDTHS] = np.clip(theta[..., LOG_WIDTHS], lo_w, hi_w)
    return theta


def _rotations(axis: np.ndarray, angles_rad: np.ndarray) -> np.ndarray:
    """(B, 3, 3) rotations about one unit axis (Rodrigues)."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    s, c = np.sin(angles_rad)[:, None, None], np.cos(angles_rad)[:, None, None]
    return np.eye(3)[None] + s * k[None] + (1 - c) * (k @ k)[None]


def heart_vector(theta: np.ndarray, beats, fs: float, n_samples: int, rng: np.random.Generator,
                 ectopic_waves: dict[str, np.ndarray], af: bool) -> np.ndarray:
    """(3, n_samples) heart vector (mV) of one recording: every beat is the patient's waves,
    breathing-modulated in size and axis, T centres following the preceding RR (Bazett, with
    hysteresis); PVCs and PACs take their waves from `ectopic_waves`; AF drops P waves."""
    from ecgimg.data.synthetic.rhythm import PAC, PVC

    centres, widths = theta[CENTRES], np.exp(theta[LOG_WIDTHS])
    vectors = theta[VECTORS].reshape(N_WAVES, 3)
    n_beats = len(beats.r_s)
    rr_mean = float(np.exp(theta[LOG_RR]))
    rr_ref = 0.7 * rr_mean + 0.3 * beats.rr_before_s
    c = np.repeat(centres[None], n_beats, 0)
    c[:, T_WAVES] = centres[T_WAVES][None] * np.sqrt(rr_ref)[:, None]
    w = np.repeat(widths[None], n_beats, 0)
    breath = np.sin(beats.resp_phase)
    scale = rng.normal(1.0, 0.025, n_beats) * (1.0 + rng.uniform(0.02, 0.07) * breath)
    axis = rng.normal(0, 1, 3)
    rot = _rotations(axis / np.linalg.norm(axis), rng.uniform(0.02, 0.08) * breath)
    v = np.einsum("wk,bjk->bwj", vectors, rot) * scale[:, None, None]      # (B, W, 3)
    if af:
        v[:, P_WAVES] = 0.0
    for kind, name in ((PVC, "pvc"), (PAC, "pac")):
        rows = beats.kind == kind
        if rows.any():
            c[rows] = ectopic_waves[f"{name}_centres"][None]
            w[rows] = ectopic_waves[f"{name}_widths"][None]
            v[rows] = ectopic_waves[f"{name}_vectors"][None]
    pre, post = int(0.5 * fs), int(0.85 * fs)
    start = np.round(beats.r_s * fs).astype(np.int64) - pre
    local = (start[:, None] + np.arange(pre + post)[None]) / fs - beats.r_s[:, None]  # (B, L)
    pulses = np.exp(-0.5 * ((local[:, :, None] - c[:, None, :]) / w[:, None, :]) ** 2)
    per_beat = np.einsum("blw,bwj->bjl", pulses, v)                          # (B, 3, L)
    out = np.zeros((3, n_samples + 2 * (pre + post)))
    offset = pre + post
    for b in range(n_beats):
        a = start[b] + offset
        if a + pre + post <= 0 or a >= out.shape[1]:
            continue
        lo, hi = max(0, a), min(out.shape[1], a + pre + post)
        out[:, lo:hi] += per_beat[b, :, lo - a:hi - a]
    return out[:, offset:offset + n_samples]


def fibrillatory_waves(rng: np.random.Generator, n_samples: int, fs: float) -> np.ndarray:
    """(3, n) mV AF atrial activity: 4-9 Hz f-waves of wandering rate and size (fine to coarse,
    0.02-0.15 mV), directed mostly toward V1 and the inferior leads."""
    t_s = np.arange(n_samples) / fs
    rate_hz = rng.uniform(4.0, 9.0) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t_s
                                                         + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(rate_hz) / fs + rng.uniform(0, 2 * np.pi)
    size = rng.lognormal(np.log(0.05), 0.45) * (1 + 0.4 * np.sin(
        2 * np.pi * rng.uniform(0.1, 0.5) * t_s + rng.uniform(0, 2 * np.pi)))
    wave = size * (np.sin(phase) + 0.35 * np.sin(2 * phase + rng.uniform(0, 2 * np.pi)))
    direction = np.array([-0.3, 0.55, 0.75]) + rng.normal(0, 0.3, 3)
    return (direction / np.linalg.norm(direction))[:, None] * wave[None, :]
