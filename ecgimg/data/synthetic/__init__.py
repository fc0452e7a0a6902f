"""Synthetic 12-lead cohort: a moving cardiac dipole fitted to PTB-XL, projected onto lead vectors.

Why a dipole model: the heart's electrical activity is well approximated by one 3-D vector H(t);
each lead records the projection of H(t) onto its lead vector. Building ECGs this way makes the
limb leads obey Einthoven (II = I + III) and Goldberger (aVR = -(I+II)/2, ...) *exactly* (noise
is added to electrode potentials RA, LA, LL, V1-V6, never to leads) and gives every patient a
stable signature (wave timing, dipole directions and sizes, chest lead vectors) that changes
only partly between that patient's recordings.

Everything is fitted to PTB-XL (`scripts/fit_synthetic_cohort.py` writes `ptbxl_fit`): the beat
model and its population spread (`morphology`), lead vectors, heart rate and sinus arrhythmia,
ectopic beats and AF rhythm (`rhythm`), noise spectrum (`noise`), label effects (`traits`).
`measure` measures the same statistics on real and synthetic records.

Labels per record: ``lvsd`` (~19% of patients), ``sex`` (1 = female, PTB-XL coding, ~50%),
``af`` (per ECG, ~7% of ECGs), and ``superdiagnostic`` (PTB-XL's NORM/MI/STTC/CD/HYP, a
multi-label list per patient: NORM 57%, MI 19%, STTC 23%, CD 19%, HYP 7%). See `traits` for the
correlates of each.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np

from ecgimg.data.record import STANDARD_LEADS, Record
from ecgimg.data.synthetic import morphology as mo
from ecgimg.data.synthetic import ptbxl_fit as fit
from ecgimg.data.synthetic.measure import PRE_S
from ecgimg.data.synthetic.noise import electrode_noise
from ecgimg.data.synthetic.rhythm import PAC, PVC, af_beats, sinus_beats
from ecgimg.data.synthetic.traits import (AF_OTHERWISE, AF_WHEN_PRONE, Patient, sample_patient,
                                          theta_of, visit_z)

#: What each synthetic label means, for reports (see `traits` for the exact correlates).
LABEL_DESCRIPTIONS = {
    "lvsd": ("synthetic left-ventricular systolic dysfunction (~19% of patients), more likely "
             "where the patient's PTB-XL anchor shows MI, LBBB, LVH, ST-T change or low voltage; "
             "each lvsd patient has a random non-empty subset of LBBB-like conduction, old-MI Q "
             "waves, ST-T changes, low limb voltage, poor R progression and resting tachycardia, "
             "none of them unique to lvsd."),
    "sex": ("sex (1 = female, PTB-XL coding, ~50%): PTB-XL's own female-minus-male differences "
            "(lower QRS voltage, longer QTc, faster rate), which overlap widely."),
    "af": ("atrial fibrillation in this recording (~7% of ECGs): irregular RR, no P wave, "
           "fibrillatory waves; AF-prone patients are in AF in 75% of their recordings."),
    "superdiagnostic": "PTB-XL-like superclasses NORM/MI/STTC/CD/HYP inherited from each "
                       "patient's PTB-XL anchor record (plus those an lvsd sign adds).",
}

#: Bump when the generator's output changes, so caches built by an older one are not reused.
COHORT_VERSION = 7
_BASE_DATE = datetime(2015, 1, 1)


def synthetic_cohort(n_patients: int, ecgs_per_patient: int, seed: int = 0, fs: float = 500.0,
                     seconds: float = 10.0) -> list[Record]:
    """`n_patients` x `ecgs_per_patient` 12-lead ECG records (float32 mV, STANDARD_LEADS order).

    Deterministic from `seed`; patient p's ECGs depend only on (seed, p), not on `n_patients`.
    """
    n_samples = int(round(fs * seconds))
    records = []
    for p in range(n_patients):
        patient = sample_patient(np.random.default_rng([seed, p, 0]))
        first_day = day = int(np.random.default_rng([seed, p, 0, 1]).integers(0, 3000))
        drift = np.zeros(mo.N_THETA)
        for j in range(ecgs_per_patient):
            rng = np.random.default_rng([seed, p, j + 1])
            gap_days = int(rng.integers(30, 900)) if j else 0
            day += gap_days
            z, drift = visit_z(patient.z, rng, drift, gap_days / 365.25)
            signal, facts = _one_ecg(patient, theta_of(patient, z), rng, fs, n_samples)
            recorded_at = _BASE_DATE + timedelta(days=day, minutes=int(rng.integers(480, 1080)))
            records.append(Record(
                signal=signal, fs=float(fs), leads=STANDARD_LEADS,
                record_id=f"syn{p:05d}_{j:03d}", patient_id=f"syn{p:05d}",
                recorded_at=recorded_at,
                labels={"lvsd": patient.lvsd, "sex": patient.sex, "af": facts["af"],
                        "superdiagnostic": list(patient.superclasses)},
                meta={"age": patient.age + (day - first_day) // 365, "sex": "F" if patient.sex else "M",
                      "dx": list(patient.superclasses), "synthetic": facts},
                source="synthetic"))
    return records


def _one_ecg(patient: Patient, theta: np.ndarray, rng: np.random.Generator, fs: float,
             n_samples: int) -> tuple[np.ndarray, dict]:
    """One recording: rhythm, heart vector, projection with electrode noise; (12, n) float32."""
    af = int(rng.random() < (AF_WHEN_PRONE if patient.af_prone else AF_OTHERWISE))
    duration_s = n_samples / fs
    rr_s = float(np.exp(theta[mo.LOG_RR]))
    if af:
        rr_s = float(np.clip(np.exp(-rng.normal(*fit.AF_LOG_HR)) * 60.0, 0.35, 1.5))
        beats = af_beats(rng, rr_s, duration_s)
        irregularity = float(np.std(beats.rr_before_s) / np.mean(beats.rr_before_s))
    else:
        n_premature = int(rng.random() < 0.5) * (1 + rng.poisson(0.6)) if (
            patient.ectopic_prone) else int(rng.random() < 0.01)
        irregularity = float(np.exp(theta[mo.LOG_RR_CV]))
        beats = sinus_beats(rng, rr_s, min(irregularity, 0.25), duration_s, n_premature,
                            fit.PVC_SHARE)
    atrial, ventricular = mo.heart_vector(theta, beats, fs, n_samples, rng,
                                          patient.ectopic_waves, bool(af), patient.notches)
    if af:
        atrial[:3] += mo.fibrillatory_waves(rng, n_samples, fs)
        atrial[3:] += fit.ATRIAL_CHEST_LEAD_VECTORS @ atrial[:3]  # f-waves: the atrial dipole
    chest = theta[mo.CHEST].reshape(6, 3)
    noise = electrode_noise(rng, n_samples, fs)
    noise[3:] += patient.nondipolar_weight * _nondipolar_chest(beats, fs, n_samples, bool(af))
    signal = _project(atrial, ventricular, chest, noise)
    # PTB-XL's records are zero-mean per lead (median |mean| 3 uV); ours carried the beats' own
    # mean (median 42 uV), which alone let a 1-D CNN tell them apart (AUROC 0.98 -> 0.74 once
    # both sides are demeaned). Subtracting each lead's mean keeps the limb-lead laws exact.
    signal -= signal.mean(axis=1, keepdims=True)
    in_record = (beats.r_s >= 0) & (beats.r_s < duration_s)
    facts = {"af": af, "premature_beats": int(np.isin(beats.kind[in_record], (PVC, PAC)).sum()),
             "heart_rate_bpm": float(60.0 / np.mean(beats.rr_before_s[in_record])),
             "rr_irregularity": irregularity, "lvsd_signs": list(patient.lvsd_signs)}
    return signal, facts


@lru_cache(maxsize=4)
def _nondipolar_template(fs: float, with_p: bool) -> np.ndarray:
    """`ptbxl_fit.NONDIPOLAR_CHEST` resampled from 250 Hz to `fs`, without its P part (before
    -70 ms) unless `with_p`, tapered to zero between 0.37 and 0.45 s after the fiducial; (6, L).

    The taper: the template's tail (0.45-0.6 s, the mean misfit of late T and U) otherwise fell
    into the next beat's P window at rates above ~80 bpm and raised the baseline P is measured
    against."""
    source = fit.NONDIPOLAR_CHEST
    t_src = np.arange(source.shape[1]) / 250.0
    t_dst = np.arange(int(round(t_src[-1] * fs)) + 1) / fs
    template = np.stack([np.interp(t_dst, t_src, row) for row in source])
    if not with_p:
        template *= np.clip((t_dst - PRE_S + 0.07) / 0.03, 0.0, 1.0)[None, :]
    template *= 0.5 * (1.0 + np.cos(np.pi * np.clip((t_dst - PRE_S - 0.37) / 0.08, 0.0, 1.0)))
    return template


def _nondipolar_chest(beats, fs: float, n_samples: int, af: bool) -> np.ndarray:
    """(6, n) mV: what the chest electrodes see beyond the dipole model (local potentials, the
    model's mean misfit) at each supraventricular beat. Added at the electrodes, like noise, so
    the limb-lead laws stay exact."""
    template = _nondipolar_template(float(fs), False)
    pre = int(round(PRE_S * fs))
    out = np.zeros((6, n_samples))
    for r_s, kind in zip(beats.r_s, beats.kind):
        if kind == PVC:
            continue
        a = int(round(r_s * fs)) - pre
        lo, hi = max(0, a), min(n_samples, a + template.shape[1])
        if hi > lo:
            out[:, lo:hi] += template[:, lo - a:hi - a]
    return out


def _project(atrial: np.ndarray, ventricular: np.ndarray, chest_vectors: np.ndarray,
             electrode_noise_mv: np.ndarray) -> np.ndarray:
    """Leads from the dipole plus electrode noise (RA, LA, LL, V1-V6), so that Einthoven and
    Goldberger hold exactly. Limb leads see the frontal dipole of atria and ventricles; chest
    electrodes see the ventricular dipole through their lead vectors and the atrial waves as
    fitted per lead (atrial rows 3-8)."""
    heart_vector = atrial[:3] + ventricular
    ra, la, ll = electrode_noise_mv[0], electrode_noise_mv[1], electrode_noise_mv[2]
    wilson = (ra + la + ll) / 3.0
    lead_i = heart_vector[0] + (la - ra)
    lead_ii = 0.5 * heart_vector[0] + np.sqrt(3) / 2 * heart_vector[1] + (ll - ra)
    out = np.empty((12, heart_vector.shape[1]), dtype=np.float64)
    out[0], out[1], out[2] = lead_i, lead_ii, lead_ii - lead_i
    out[3], out[4], out[5] = -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2
    out[6:] = (chest_vectors @ ventricular + atrial[3:]
               + (electrode_noise_mv[3:] - wilson[None, :]))
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


__all__ = ["COHORT_VERSION", "synthetic_cohort", "synthetic_cohort_cache"]
