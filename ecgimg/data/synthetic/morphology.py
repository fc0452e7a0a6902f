"""Beat morphology: eight waves in time, each with a 3-D dipole vector, and theta.

The heart vector of one beat is H(t) = sum_w v_w * g((t - c_w) / s_w) (mV) with t relative to
the beat's fiducial (the QRS energy peak that `measure.detect_r_peaks` finds); g is a Gaussian
for the QRS waves (the fit's basis) and a raised cosine of the same area and compact support for
P and T (`cosine_pulse`).
Two atrial waves let P be biphasic in V1; two ventricular R waves sweep the QRS loop; two T
waves make T asymmetric. Coordinates: x = patient's left, y = inferior, z = anterior.

theta is the flat per-patient parameter vector the PTB-XL fit produces and the cohort samples:
wave centres (s; T centres divided by sqrt(RR s), i.e. Bazett-normalised), log widths (log s),
wave vectors (mV), log RR (s), log RR coefficient of variation, chest lead vectors (6 x 3) and
the P waves' own amplitudes in V1-V6 (6 x 2, mV): a dipole at the ventricles' lead vectors
cannot reproduce the biphasic P of V1, the atria sit higher and further back.
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
    + [f"chest_{lead}_{axis}" for lead in LEAD_NAMES_CHEST for axis in "xyz"]
    + [f"chestp_{lead}_{wave}" for lead in LEAD_NAMES_CHEST for wave in ("P1", "P2")])
N_THETA = len(THETA_NAMES)
CENTRES = slice(0, N_WAVES)
LOG_WIDTHS = slice(N_WAVES, 2 * N_WAVES)
VECTORS = slice(2 * N_WAVES, 5 * N_WAVES)
LOG_RR, LOG_RR_CV = 5 * N_WAVES, 5 * N_WAVES + 1
CHEST = slice(5 * N_WAVES + 2, 5 * N_WAVES + 20)
CHEST_P = slice(5 * N_WAVES + 20, 5 * N_WAVES + 32)   # (6 leads, 2 atrial waves), mV
#: theta entries of the atrial waves: P centres and widths, P vectors, P amplitudes in V1-V6.
ATRIAL_DIMS = np.r_[np.flatnonzero([w.startswith("P") for w in WAVES]),
                    N_WAVES + np.flatnonzero([w.startswith("P") for w in WAVES]),
                    2 * N_WAVES + np.arange(6), np.arange(CHEST_P.start, CHEST_P.stop)]
T_WAVES = np.array([w.startswith("T") for w in WAVES])
P_WAVES = np.array([w.startswith("P") for w in WAVES])
QRS_WAVES = ~(T_WAVES | P_WAVES)
#: Gain on the fitted P waves (frontal vectors and V1-V6 amplitudes): the fit's P was ~10%
#: smaller than PTB-XL's measured P (p_II, p_V1 medians of `ptbxl_fit.TARGETS`), so leftover
#: baseline crossed the 25% P-end threshold and widened the measured P.
P_GAIN = 1.15


def gaussian_pulse(t_s: np.ndarray, centres_s: np.ndarray, widths_s: np.ndarray) -> np.ndarray:
    """Gaussians of unit height (broadcasting); the fit's basis and the QRS waves' shape."""
    return np.exp(-0.5 * ((t_s - centres_s) / widths_s) ** 2)


def beat_basis(t_s: np.ndarray, centres_s: np.ndarray, widths_s: np.ndarray) -> np.ndarray:
    """(len(t), W) Gaussians of unit height, one column per wave."""
    return gaussian_pulse(t_s[:, None], centres_s[None, :], widths_s[None, :])


#: Half-width of a raised-cosine P or T pulse in units of the fitted Gaussian sd: 2.5 sd gives
#: the Gaussian's area (sqrt(2 pi) sd) at equal height, with a full width at half maximum 6%
#: larger.
COSINE_HALF_WIDTH_SD = 2.5


def cosine_pulse(t_s: np.ndarray, centres_s: np.ndarray, widths_s: np.ndarray) -> np.ndarray:
    """Raised-cosine pulses of unit height, zero beyond `COSINE_HALF_WIDTH_SD` x `widths_s` from
    the centre (broadcasting like the Gaussian). P and T use them: a Gaussian's tails never end,
    so the previous T raised the next P's baseline and the measured P began too early."""
    x = (t_s - centres_s) / (COSINE_HALF_WIDTH_SD * widths_s)
    return np.where(np.abs(x) < 1.0, 0.5 * (1.0 + np.cos(np.pi * np.clip(x, -1.0, 1.0))), 0.0)


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
                 ectopic_waves: dict[str, np.ndarray], af: bool,
                 notches: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(atrial (9, n_samples): frontal dipole x, y, z and V1-V6 amplitudes; ventricular dipole
    (3, n_samples)) in mV of one recording.

    Every beat is the patient's waves, breathing-modulated in size and axis, T centres following
    the preceding RR (Bazett, with hysteresis); PVCs and PACs take their waves from
    `ectopic_waves`; AF drops P waves. `notches` (centres s, widths s, vectors (E, 3) mV) are the
    patient's small, sharp QRS deflections (fragmentation), added to sinus and PAC beats.
    """
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
    # beat-to-beat variation grows with the signal (PTB-XL's beat residual does); the noise
    # calibration of the fitting script accounts for it
    scale = rng.normal(1.0, 0.015, n_beats) * (1.0 + rng.uniform(0.0, 0.05) * breath)
    axis = rng.normal(0, 1, 3)
    rot = _rotations(axis / np.linalg.norm(axis), rng.uniform(0.0, 0.05) * breath)
    v = np.einsum("wk,bjk->bwj", vectors, rot) * scale[:, None, None]      # (B, W, 3)
    chest_p = np.repeat(theta[CHEST_P].reshape(6, 2).T[None], n_beats, 0)   # (B, 2, 6)
    if af:
        v[:, P_WAVES] = 0.0
        chest_p[:] = 0.0
    for kind, name in ((PVC, "pvc"), (PAC, "pac")):
        rows = beats.kind == kind
        if rows.any():
            c[rows] = ectopic_waves[f"{name}_centres"][None]
            w[rows] = ectopic_waves[f"{name}_widths"][None]
            v[rows] = ectopic_waves[f"{name}_vectors"][None]
            chest_p[rows] = ectopic_waves[f"{name}_chest_p"][None]
    atrial_v = np.concatenate([v[:, P_WAVES], chest_p], axis=2)           # (B, 2, 9)
    # P and T are raised cosines (compact support), QRS waves and notches Gaussians
    groups = [(c[:, P_WAVES], w[:, P_WAVES], atrial_v * P_GAIN, (-0.5, 0.02), True, cosine_pulse),
              (c[:, QRS_WAVES], w[:, QRS_WAVES], v[:, QRS_WAVES], (-0.16, 0.24), False, gaussian_pulse),
              (c[:, T_WAVES], w[:, T_WAVES], v[:, T_WAVES], (-0.05, 0.85), False, cosine_pulse)]
    if notches is not None and len(notches[0]):
        sinus = (beats.kind != PVC)[:, None, None]
        groups.append((np.repeat(notches[0][None], n_beats, 0),
                       np.repeat(notches[1][None], n_beats, 0),
                       np.repeat(notches[2][None], n_beats, 0) * sinus, (-0.1, 0.15), False,
                       gaussian_pulse))
    pre, post = int(0.5 * fs), int(0.85 * fs)
    start = np.round(beats.r_s * fs).astype(np.int64) - pre
    t_local = (np.arange(pre + post) - pre) / fs                          # (L,) s from fiducial
    shift = (start + pre) / fs - beats.r_s                               # rounding, (B,)
    per_beat = np.zeros((2, n_beats, pre + post, 9))                      # atrial, ventricular
    # each wave group is evaluated only in its own window (about 3x fewer exponentials)
    for gc, gw, gv, (lo_s, hi_s), atrial, pulse in groups:
        a, b = pre + int(lo_s * fs), pre + int(hi_s * fs)
        t = t_local[a:b][None, :, None] + shift[:, None, None]
        pulses = pulse(t, gc[:, None, :], gw[:, None, :])
        per_beat[0 if atrial else 1, :, a:b, :gv.shape[2]] += np.matmul(pulses, gv)
    offset = pre + post
    out = np.zeros((2, 9, n_samples + 2 * offset))
    for b in range(n_beats):
        a = start[b] + offset
        if a + pre + post <= 0 or a >= out.shape[-1]:
            continue
        lo, hi = max(0, a), min(out.shape[-1], a + pre + post)
        out[:, :, lo:hi] += per_beat[:, b, lo - a:hi - a].transpose(0, 2, 1)
    return out[0, :, offset:offset + n_samples], out[1, :3, offset:offset + n_samples]


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
