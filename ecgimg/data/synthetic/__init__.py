"""Synthetic 12-lead cohort: a moving cardiac dipole projected onto electrode lead vectors.

Why a dipole model: the heart's electrical activity is well approximated by one 3-D vector H(t);
each lead records the projection of H(t) onto its lead vector. Building ECGs this way makes the
limb leads obey Einthoven (II = I + III) and Goldberger (aVR = -(I+II)/2, ...) *exactly* — noise
is added to electrode potentials (RA, LA, LL, V1-V6), never to leads — and gives every patient a
stable "biometric signature" (wave directions, amplitudes, QRS width, QT, electrode placement)
that varies only slightly between that patient's recordings.

Coordinates: x = patient's left, y = inferior (feet), z = anterior. Every wave of every beat
(P; septal Q; apical R1 and lateral R2, which sweep the QRS loop from anterior to leftward so R
grows from V1 to V4; basal S; T) is a Gaussian in time (s) times a dipole direction times an
amplitude (mV). Precordial lead vectors are longer for V2-V4, which lie closest to the heart.

Labels (binary, 0/1), linked to traits with deliberate noise so they are learnable, not trivial:
* ``lvsd`` (~25% of patients): lower QRS voltage, wider QRS, R vector rotated posteriorly
  (poor R-wave progression V1-V4), flatter T. Each effect overlaps with healthy variation.
* ``sex`` (1 = female, as PTB-XL codes it): lower QRS amplitude and longer QTc on average.
* ``af`` (per ECG; prone patients have it in most but not all recordings): irregular RR,
  no P wave, fibrillatory 4-9 Hz atrial activity of varying size.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ecgimg.data.record import STANDARD_LEADS, Record

WAVES = ("P", "Q", "R1", "R2", "S", "T")
_BASE_DATE = datetime(2015, 1, 1)

#: Precordial electrode azimuths in the horizontal plane (degrees from +x toward +z anterior).
_PRECORDIAL_AZIMUTH_DEG = np.array([120.0, 100.0, 75.0, 50.0, 25.0, 0.0])
#: Precordial lead-vector lengths: V2-V4 sit closest to the heart and record the largest QRS.
_PRECORDIAL_GAIN = np.array([1.2, 1.8, 1.8, 1.6, 1.3, 1.0])
#: Typical wave dipole directions (x left, y inferior, z anterior), before per-patient jitter.
_WAVE_DIRECTION = {
    "P": (0.5, 0.8, 0.15),
    "Q": (-0.6, 0.25, 0.75),   # septal depolarisation: rightward and anterior
    "R1": (0.5, 0.5, 0.6),     # apical: leftward and anterior (tall R in V3-V4)
    "R2": (0.7, 0.5, -0.3),    # lateral LV free wall: leftward, slightly posterior (R in V5-V6)
    "S": (-0.35, -0.45, -0.8),  # basal: rightward, superior, posterior
    "T": (0.55, 0.6, 0.3),     # concordant with the QRS axis
}


def synthetic_cohort(n_patients: int, ecgs_per_patient: int, seed: int = 0, fs: float = 500.0,
                     seconds: float = 10.0) -> list[Record]:
    """`n_patients` x `ecgs_per_patient` 12-lead ECG records (float32 mV, STANDARD_LEADS order).

    Deterministic from `seed`; patient p's ECGs depend only on (seed, p), not on `n_patients`.
    """
    n_samples = int(round(fs * seconds))
    t_s = np.arange(n_samples) / fs
    records = []
    for p in range(n_patients):
        traits = _patient_traits(np.random.default_rng([seed, p, 0]))
        first_day = np.random.default_rng([seed, p, 0, 1]).integers(0, 3000)
        day = int(first_day)
        for j in range(ecgs_per_patient):
            rng = np.random.default_rng([seed, p, j + 1])
            day += int(rng.integers(20, 400)) if j else 0
            signal, ecg_facts = _one_ecg(traits, rng, t_s)
            recorded_at = _BASE_DATE + timedelta(days=day, minutes=int(rng.integers(480, 1080)))
            records.append(Record(
                signal=signal, fs=float(fs), leads=STANDARD_LEADS,
                record_id=f"syn{p:05d}_{j:03d}", patient_id=f"syn{p:05d}",
                recorded_at=recorded_at,
                labels={"lvsd": traits["lvsd"], "sex": traits["sex"], "af": ecg_facts["af"]},
                meta={"age": traits["age"], "sex": "F" if traits["sex"] else "M", "dx": [],
                      "synthetic": ecg_facts}, source="synthetic"))
    return records


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _patient_traits(rng: np.random.Generator) -> dict[str, Any]:
    """Stable per-patient traits: the biometric signature and the label-bearing traits."""
    female = int(rng.random() < 0.5)
    lvsd = int(rng.random() < 0.25)
    af_prone = rng.random() < 0.18
    directions = {wave: _unit(np.array(d) + rng.normal(0, 0.18, 3))
                  for wave, d in _WAVE_DIRECTION.items()}
    if lvsd:  # poor R progression: the apical R vector turns posterior by a variable amount
        directions["R1"] = _unit(directions["R1"] + np.array([0.0, 0.0, -rng.uniform(0.0, 0.9)]))
    qrs_amp = rng.lognormal(0.0, 0.22) * (0.78 if female else 1.0) * (
        rng.uniform(0.55, 0.95) if lvsd else 1.0)
    qrs_width = rng.normal(1.0, 0.12) * (rng.uniform(1.05, 1.5) if lvsd else 1.0)
    qtc_s = rng.normal(0.435 if female else 0.40, 0.02) + (0.015 if lvsd else 0.0)
    azimuth = np.deg2rad(_PRECORDIAL_AZIMUTH_DEG + rng.normal(0, 6, 6))
    elevation = rng.normal(0.0, 0.15, 6)
    chest = _unit(np.stack([np.cos(azimuth), elevation, np.sin(azimuth)], axis=1)) * (
        _PRECORDIAL_GAIN * rng.lognormal(-0.12 if female else 0.0, 0.1))[:, None]  # breast tissue
    return {
        "sex": female, "lvsd": lvsd, "af_prone": bool(af_prone),
        "age": int(np.clip(rng.normal(62 if lvsd else 55, 14), 18, 95)),
        "directions": directions,
        "amp_mv": {"P": rng.uniform(0.1, 0.2), "Q": 0.15 * qrs_amp * rng.uniform(0.5, 1.5),
                   "R1": 0.7 * qrs_amp * rng.uniform(0.7, 1.3),
                   "R2": 0.9 * qrs_amp * rng.uniform(0.7, 1.3),
                   "S": 0.5 * qrs_amp * rng.uniform(0.6, 1.4),
                   "T": 0.35 * rng.lognormal(0, 0.2) * (0.85 if female else 1.0)
                   * (rng.uniform(0.4, 0.9) if lvsd else 1.0)},
        "qrs_width": qrs_width, "qtc_s": qtc_s, "pr_s": rng.uniform(0.13, 0.20),
        "p_width_s": rng.uniform(0.018, 0.03), "t_width_s": rng.uniform(0.035, 0.055),
        "heart_rate_bpm": rng.uniform(55, 85), "hrv": rng.uniform(0.01, 0.08),
        "chest_vectors": chest,
    }


def _one_ecg(traits: dict[str, Any], rng: np.random.Generator,
             t_s: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """One recording of a patient: per-ECG rate, rhythm, drift and noise; returns (12, n) mV."""
    af = int(rng.random() < (0.75 if traits["af_prone"] else 0.02))
    duration_s = t_s[-1] + (t_s[1] - t_s[0])
    heart_rate = traits["heart_rate_bpm"] * rng.uniform(0.88, 1.15) * (
        rng.uniform(1.05, 1.4) if af else 1.0)
    rr_mean_s = 60.0 / heart_rate
    # AF ranges from mildly to grossly irregular; sinus rhythm has HRV and, sometimes, premature
    # beats with a compensatory pause — so RR irregularity alone does not separate the classes
    irregularity = rng.uniform(0.04, 0.3) if af else traits["hrv"]
    n_beats = int(duration_s / rr_mean_s) + 4
    rr_s = rr_mean_s * np.clip(1.0 + irregularity * rng.standard_normal(n_beats), 0.5, 1.8)
    n_ectopic = 0 if af or rng.random() > 0.25 else int(rng.integers(1, 3))
    for k in rng.choice(np.arange(2, n_beats - 2), size=n_ectopic, replace=False):
        rr_s[k], rr_s[k + 1] = rr_s[k] * 0.65, rr_s[k + 1] * 1.35
    r_times_s = np.cumsum(rr_s) - rng.uniform(0.3, 1.0) * rr_s[0] - rr_s[0]

    width = traits["qrs_width"] * rng.normal(1.0, 0.03)
    qt_s = traits["qtc_s"] * np.sqrt(np.clip(rr_s, 0.4, 1.6))
    offsets = {"P": -traits["pr_s"] * np.ones(n_beats), "Q": -0.028 * width * np.ones(n_beats),
               "R1": -0.008 * width * np.ones(n_beats), "R2": 0.008 * width * np.ones(n_beats),
               "S": 0.03 * width * np.ones(n_beats), "T": qt_s - 0.11}
    sigmas = {"P": traits["p_width_s"], "Q": 0.009 * width, "R1": 0.009 * width,
              "R2": 0.01 * width, "S": 0.011 * width, "T": traits["t_width_s"]}
    waves = [w for w in WAVES if not (af and w == "P")]
    amp_scale = rng.normal(1.0, 0.05)
    centres = np.concatenate([r_times_s + offsets[w] for w in waves])            # (W*B,)
    widths = np.concatenate([np.full(n_beats, sigmas[w]) for w in waves])
    amps = np.concatenate([np.full(n_beats, traits["amp_mv"][w]) for w in waves]) * amp_scale
    amps = amps * rng.normal(1.0, 0.03, amps.shape)                               # beat-to-beat
    dirs = np.concatenate([np.repeat(traits["directions"][w][None], n_beats, 0) for w in waves])
    dirs = _unit(dirs + rng.normal(0, 0.03, 3))                                   # small axis drift
    keep = np.abs(centres - duration_s / 2) < duration_s / 2 + 0.5
    pulses = np.exp(-0.5 * ((t_s[None, :] - centres[keep, None]) / widths[keep, None]) ** 2)
    heart_vector = (dirs[keep] * amps[keep, None]).T @ pulses                     # (3, n) mV

    if af:  # fibrillatory atrial activity along a random atrial direction
        f_hz = rng.uniform(4.0, 9.0)
        phase = np.cumsum(2 * np.pi * f_hz * (1 + 0.1 * np.sin(2 * np.pi * 0.3 * t_s))
                          * (t_s[1] - t_s[0]))
        atrial = rng.uniform(0.02, 0.1) * np.sin(phase + rng.uniform(0, 2 * np.pi))
        heart_vector += _unit(rng.normal(0, 1, 3))[:, None] * atrial[None, :]

    signal = _project_with_electrode_noise(heart_vector, traits["chest_vectors"], rng, t_s)
    facts = {"af": af, "premature_beats": n_ectopic, "heart_rate_bpm": float(60.0 / np.mean(rr_s)),
             "rr_irregularity": float(irregularity), "qrs_width_scale": float(width)}
    return signal, facts


def _project_with_electrode_noise(heart_vector: np.ndarray, chest_vectors: np.ndarray,
                                  rng: np.random.Generator, t_s: np.ndarray) -> np.ndarray:
    """Leads from the dipole plus electrode-level noise, so Einthoven/Goldberger stay exact."""
    n = t_s.size
    # electrode noise: RA, LA, LL, V1..V6 — baseline wander, mains hum, white noise
    n_electrodes = 9
    wander_hz = rng.uniform(0.05, 0.5, (n_electrodes, 2))
    wander = (rng.uniform(0.0, 0.15, (n_electrodes, 2))[..., None]
              * np.sin(2 * np.pi * wander_hz[..., None] * t_s
                       + rng.uniform(0, 2 * np.pi, (n_electrodes, 2, 1)))).sum(axis=1)
    mains_hz = 50.0 if rng.random() < 0.5 else 60.0
    hum = rng.uniform(0.0, 0.02, (n_electrodes, 1)) * np.sin(
        2 * np.pi * mains_hz * t_s + rng.uniform(0, 2 * np.pi, (n_electrodes, 1)))
    noise = wander + hum + rng.normal(0, rng.uniform(0.005, 0.02), (n_electrodes, n))
    ra, la, ll = noise[0], noise[1], noise[2]
    wilson = (ra + la + ll) / 3.0

    lead_i = heart_vector[0] + (la - ra)
    lead_ii = 0.5 * heart_vector[0] + np.sqrt(3) / 2 * heart_vector[1] + (ll - ra)
    chest = chest_vectors @ heart_vector + (noise[3:] - wilson[None, :])
    out = np.empty((12, n), dtype=np.float64)
    out[0], out[1], out[2] = lead_i, lead_ii, lead_ii - lead_i
    out[3], out[4], out[5] = -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2
    out[6:] = chest
    return out.astype(np.float32)


def synthetic_cohort_cache(out_dir: str | Path, n_patients: int, ecgs_per_patient: int,
                           seed: int = 0, fractions: dict[str, float] | None = None,
                           progress: bool = False):
    """Generate a cohort and write it as a `SignalCache` with a seeded patient-level split."""
    from ecgimg.data.cache import build_cache
    from ecgimg.data.splits import patient_split

    records = synthetic_cohort(n_patients, ecgs_per_patient, seed)
    splits = patient_split([r.patient_id for r in records], fractions, seed=seed)
    return build_cache(records, out_dir, splits=list(splits), progress=progress)
