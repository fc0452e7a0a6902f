"""Patients: PTB-XL-fitted morphology, labels with clinical correlates, and visit-to-visit change.

A patient is a standardised theta vector z (see `morphology`) drawn around a random PTB-XL anchor
record (a smoothed bootstrap: the anchor's fitted theta plus a kernel step shaped like PTB-XL's
between-record covariance), so the cohort keeps PTB-XL's mix of normal and pathological beats.
Labels and their correlates:

* ``sex`` (1 = female, the anchor's; ~50%): PTB-XL's own sex differences, reinforced by
  `SEX_GAIN` x its female-minus-male theta shift (lower QRS voltage, longer QTc, faster rate).
* ``superdiagnostic``: the anchor's PTB-XL superclasses (NORM/MI/STTC/CD/HYP), plus those an
  lvsd sign adds.
* ``lvsd`` (~19% of patients): more likely where the anchor shows MI, CLBBB, LVH, STTC or low
  voltage (`LVSD_ANCHOR_LOGIT`); every lvsd patient also has a random, non-empty subset of
  `LVSD_SIGNS`: LBBB-like conduction (PTB-XL's CLBBB shift), old MI (pathological Q, PTB-XL's MI
  shift), ST-T changes (STTC shift), low limb voltage, poor R progression, resting tachycardia;
  lvsd patients are also more often AF-prone. No sign is unique to lvsd.
* ``af`` per ECG: AF-prone patients (5%; 20% with lvsd) are in AF in 75% of their recordings.

A visit adds a random walk over the years and independent visit noise (both shaped like the
population covariance), larger for rate and chest lead vectors (electrode placement) than for
wave timing, so one patient's ECGs resemble each other more than other patients' without being
copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecgimg.data.synthetic import morphology as mo
from ecgimg.data.synthetic import ptbxl_fit as fit

AF_PRONE = {False: 0.05, True: 0.2}      # by lvsd
AF_WHEN_PRONE, AF_OTHERWISE = 0.75, 0.01
SEX_GAIN = 0.3
#: Patients are drawn around a PTB-XL anchor; the kernel's size in population-sd units, smaller
#: for wave timing (independent jitter of overlapping waves would widen P, QRS and T).
ANCHOR_KERNEL_SD = {"timing": 0.08, "atrial": 0.1, "q_s": 0.1, "other": 0.35}
#: lvsd log-odds: a base plus a term per superclass / SCP code the anchor's ECG shows.
LVSD_BASE_LOGIT = -1.9
LVSD_ANCHOR_LOGIT = {"MI": 1.0, "CLBBB": 2.0, "LVH": 0.6, "STTC": 0.5, "LVOLT": 1.0, "CD": 0.3}
#: lvsd signs and how often an lvsd patient has each (each patient has at least one).
LVSD_SIGNS = {"lbbb": 0.3, "old_mi": 0.4, "st_t": 0.4, "low_limb_voltage": 0.3,
              "poor_r_progression": 0.35, "tachycardia": 0.35}
ECTOPIC_PRONE = 0.12
#: Visit-to-visit noise (theta sd units): wave timing, atrial waves (their PTB-XL spread is
#: mostly fit noise of a 0.1 mV wave), other morphology, chest lead vectors, rate, RR variability.
VISIT_SD = {"timing": 0.12, "atrial": 0.12, "q_s": 0.1, "morphology": 0.3, "chest": 0.45,
            "log_rr": 0.6, "log_rr_cv": 0.6}
#: The Q and S vectors get small kernel and visit steps: in the PTB-XL fits they trade off against
#: the neighbouring R and T waves (much of their spread is that trade-off), so an independent
#: step breaks the cancellation and spills their tails into the ST segment. At the "other" sizes
#: a quarter of plain (NORM, no lvsd) synthetic records had an ST level in some lead beyond
#: PTB-XL's whole p5-p95 range from its median (0.139; exact anchors 0.028); at 0.1 it is 0.060
#: (cohort 200 x 2, seed 0). The Q and S spread itself still comes from the anchors.
_Q_S_VECTORS = np.r_[[mo.VECTORS.start + 3 * mo.WAVES.index(w) + k for w in ("Q", "S")
                      for k in range(3)]]
DRIFT_SD_PER_YEAR = 0.12
#: P widths are pulled toward exp(P_LOG_WIDTH_CENTRE) s by P_LOG_WIDTH_SHRINK in log space: a
#: quarter of the PTB-XL fits pin a P wave at the 45 ms width bound (a 0.1 mV wave fitted in
#: noise), and with them the synthetic P duration had a median of 106 ms and a p75 of 143 ms
#: (PTB-XL 98, 112); at 0.6 they read 100 and 138 (cohort 250 x 2, seed 0). Most of the
#: remaining tail is the previous T reaching the P window at rates above 90 bpm, which PTB-XL
#: shows too, less often.
P_LOG_WIDTH_CENTRE = float(np.log(0.022))
P_LOG_WIDTH_SHRINK = 0.6
_P_LOG_WIDTHS = mo.N_WAVES + np.flatnonzero(mo.P_WAVES)
#: sd of the per-patient weight of the non-dipolar chest template. The fit's
#: `ptbxl_fit.NONDIPOLAR_WEIGHT_SD` (2.3) is the spread of a least-squares weight on a small
#: template, mostly fit noise; at 2.3 it put up to ~0.1 mV of template into P and ST windows and
#: made the synthetic ST spread 2.4x PTB-XL's in the worst lead. 1.0 brings it to ~1.5x.
NONDIPOLAR_WEIGHT_SD = 1.0


@dataclass
class Patient:
    sex: int
    age: int
    lvsd: int
    af_prone: bool
    ectopic_prone: bool
    z: np.ndarray                       # standardised theta
    superclasses: list[str]
    lvsd_signs: list[str]
    modifiers: dict[str, float] = field(default_factory=dict)
    ectopic_waves: dict[str, np.ndarray] = field(default_factory=dict)
    notches: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    nondipolar_weight: float = 1.0


def sample_patient(rng: np.random.Generator) -> Patient:
    anchor = int(rng.integers(len(fit.ANCHOR_Z)))
    sex = int(fit.ANCHOR_SEX[anchor])
    codes = set(filter(None, fit.ANCHOR_CODES[anchor].split("|")))
    classes = set(filter(None, fit.ANCHOR_CLASSES[anchor].split("|"))) - {"NORM"}
    z = (fit.ANCHOR_Z[anchor] + _KERNEL_SD * _population_normal(rng)) * _PATIENT_SD
    z += (sex - 0.5) * SEX_GAIN * fit.THETA_SHIFT["FEMALE"]
    # lvsd is more likely where the anchor's ECG already shows its correlates
    logit = LVSD_BASE_LOGIT + sum(w for c, w in LVSD_ANCHOR_LOGIT.items() if c in classes | codes)
    lvsd = int(rng.random() < 1.0 / (1.0 + np.exp(-logit)))
    signs: list[str] = []
    if lvsd:
        while not signs:
            signs = [s for s, p in LVSD_SIGNS.items() if rng.random() < p]
    if "old_mi" in signs:
        z += rng.uniform(0.5, 1.3) * fit.THETA_SHIFT["MI"]
        classes.add("MI")
    if "st_t" in signs:
        z += rng.uniform(0.5, 1.3) * fit.THETA_SHIFT["STTC"]
        classes.add("STTC")
    if "lbbb" in signs and "CLBBB" not in codes:
        z += rng.uniform(0.7, 1.3) * fit.THETA_SHIFT["CLBBB"]
        classes.add("CD")
    modifiers = {
        "qrs_frontal_scale": rng.uniform(0.45, 0.75) if "low_limb_voltage" in signs else 1.0,
        "r_anterior_scale": rng.uniform(0.1, 0.6) if "poor_r_progression" in signs else 1.0,
        "log_rr_shift": -rng.uniform(0.1, 0.3) if "tachycardia" in signs else 0.0,
    }
    age = int(np.clip(rng.normal(66 if lvsd else 58, 16), 18, 95))
    patient = Patient(sex=sex, age=age, lvsd=lvsd, af_prone=bool(rng.random() < AF_PRONE[lvsd]),
                      ectopic_prone=bool(rng.random() < ECTOPIC_PRONE
                                         or codes & {"PVC", "PAC"}), z=z,
                      superclasses=sorted(classes) or ["NORM"], lvsd_signs=signs,
                      modifiers=modifiers)
    patient.ectopic_waves = _ectopic_waves(rng, patient)
    patient.notches = _notches(rng, patient)
    patient.nondipolar_weight = float(rng.normal(1.0, NONDIPOLAR_WEIGHT_SD))
    return patient


def _notches(rng: np.random.Generator, patient: Patient) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """2-4 small sharp deflections inside the QRS (real QRS complexes are notched and slurred,
    not sums of smooth Gaussians; they carry PTB-XL's power above 40 Hz). 1.5-3 ms wide: wider
    notches put that power near 50 Hz only, which read as a mains line; their sd per axis
    (`ptbxl_fit.NOTCH_SD_MV`) is fitted to each lead's median-beat power above 40 Hz."""
    theta = theta_of(patient, patient.z)
    q, s = theta[mo.CENTRES][mo.WAVES.index("Q")], theta[mo.CENTRES][mo.WAVES.index("S")]
    n = int(rng.integers(2, 5))
    centres = rng.uniform(q - 0.005, s + 0.01, n)
    widths = rng.uniform(0.0015, 0.003, n)
    vectors = rng.normal(0.0, fit.NOTCH_SD_MV, (n, 3))
    return centres, widths, vectors


def _visit_sd() -> np.ndarray:
    sd = np.full(mo.N_THETA, VISIT_SD["morphology"])
    sd[:2 * mo.N_WAVES] = VISIT_SD["timing"]
    sd[mo.ATRIAL_DIMS] = VISIT_SD["atrial"]
    sd[_Q_S_VECTORS] = VISIT_SD["q_s"]
    sd[mo.CHEST] = VISIT_SD["chest"]
    sd[mo.LOG_RR] = VISIT_SD["log_rr"]
    sd[mo.LOG_RR_CV] = VISIT_SD["log_rr_cv"]
    return sd


_KERNEL_SD = np.full(mo.N_THETA, ANCHOR_KERNEL_SD["other"])
_KERNEL_SD[:2 * mo.N_WAVES] = ANCHOR_KERNEL_SD["timing"]
_KERNEL_SD[mo.ATRIAL_DIMS] = ANCHOR_KERNEL_SD["atrial"]
_KERNEL_SD[_Q_S_VECTORS] = ANCHOR_KERNEL_SD["q_s"]
_PATIENT_SD = np.sqrt(np.clip(1.0 - _visit_sd() ** 2 - 2 * DRIFT_SD_PER_YEAR ** 2, 0.2, 1.0)
                      / (1.0 + _KERNEL_SD ** 2))


def _population_normal(rng: np.random.Generator) -> np.ndarray:
    """A standard normal theta step shaped like PTB-XL's between-record covariance (rank-k
    loadings + residual), so that waves that move together in real ECGs move together here
    (independent steps would pull T1 from T2 and P1 from P2 and widen the waves)."""
    k = fit.THETA_LOADINGS.shape[1]
    return fit.THETA_LOADINGS @ rng.standard_normal(k) + fit.THETA_RESID_SD * (
        rng.standard_normal(mo.N_THETA))


def visit_z(patient_z: np.ndarray, rng: np.random.Generator, previous_drift: np.ndarray,
            years_since_last: float) -> tuple[np.ndarray, np.ndarray]:
    """(standardised theta of this visit, the patient's accumulated drift)."""
    drift = previous_drift + DRIFT_SD_PER_YEAR * np.sqrt(max(years_since_last, 0.0)) * (
        _population_normal(rng))
    return patient_z + drift + _visit_sd() * _population_normal(rng), drift


def theta_of(patient: Patient, z: np.ndarray) -> np.ndarray:
    """Un-standardised, clipped theta with the patient's lvsd modifiers applied."""
    theta = mo.clip_theta(fit.THETA_MEAN + fit.THETA_SD * z)
    vectors = theta[mo.VECTORS].reshape(mo.N_WAVES, 3)
    vectors[mo.QRS_WAVES, :2] *= patient.modifiers["qrs_frontal_scale"]
    r_waves = np.array([w in ("R1", "R2") for w in mo.WAVES])
    vectors[r_waves, 2] *= patient.modifiers["r_anterior_scale"]
    theta[mo.VECTORS] = vectors.ravel()
    theta[mo.LOG_RR] += patient.modifiers["log_rr_shift"]
    theta[mo.LOG_RR] = np.clip(theta[mo.LOG_RR], np.log(60 / 150), np.log(60 / 38))
    theta[_P_LOG_WIDTHS] = P_LOG_WIDTH_CENTRE + P_LOG_WIDTH_SHRINK * (
        theta[_P_LOG_WIDTHS] - P_LOG_WIDTH_CENTRE)
    return theta


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _ectopic_waves(rng: np.random.Generator, patient: Patient) -> dict[str, np.ndarray]:
    """The patient's PVC focus (wide QRS, discordant T, no P) and PAC atrial wave set."""
    theta = theta_of(patient, patient.z)
    centres, widths = theta[mo.CENTRES].copy(), np.exp(theta[mo.LOG_WIDTHS])
    vectors = theta[mo.VECTORS].reshape(mo.N_WAVES, 3)
    focus = _unit(rng.normal(0, 1, 3))
    size = rng.uniform(1.0, 2.2)
    pvc_c = np.array([-0.2, -0.2, -0.03, 0.0, 0.035, 0.07, 0.30, 0.36])
    pvc_w = np.array([0.02, 0.02, 0.018, 0.02, 0.022, 0.02, 0.07, 0.04])
    pvc_v = np.zeros((mo.N_WAVES, 3))
    pvc_v[2], pvc_v[3] = 0.4 * size * focus, 0.8 * size * focus
    pvc_v[4] = 0.6 * size * _unit(focus + rng.normal(0, 0.5, 3))
    pvc_v[5] = -0.3 * size * focus
    pvc_v[6], pvc_v[7] = -0.35 * size * focus, -0.25 * size * focus   # discordant T
    pac_c = centres.copy()
    pac_c[mo.P_WAVES] += rng.uniform(0.0, 0.03)
    pac_c[mo.T_WAVES] *= np.exp(0.5 * theta[mo.LOG_RR])
    pac_v = vectors.copy()
    pac_v[mo.P_WAVES] = rng.uniform(0.5, 1.0) * np.linalg.norm(vectors[mo.P_WAVES], axis=1,
                                                               keepdims=True) * _unit(
        rng.normal(0, 1, 3))
    pac_chest_p = (fit.ATRIAL_CHEST_LEAD_VECTORS @ pac_v[mo.P_WAVES].T).T      # (2, 6)
    return {"pvc_centres": pvc_c, "pvc_widths": pvc_w, "pvc_vectors": pvc_v,
            "pvc_chest_p": np.zeros((2, 6)), "pac_centres": pac_c, "pac_widths": widths,
            "pac_vectors": pac_v, "pac_chest_p": pac_chest_p}
