"""Fit the synthetic cohort's parameters to PTB-XL and write `ecgimg/data/synthetic/ptbxl_fit.py`.

What is measured, on `../shared/data/ptbxl` (500 records at 500 Hz; 897 labelled at 100 Hz):

1. Dipole lead vectors. From each record's median beat the frontal dipole is exact
   (x = I, y = (2 II - I)/sqrt 3, Einthoven's ideal triangle); the anterior component z(t) and the
   population chest lead vectors C (V = C @ [x, y, z]) are found by alternating least squares over
   all records, starting from Dower's matrix. Each record's own C (ridge toward the population C)
   gives the patient-to-patient spread of electrode placement and torso.
2. Beat model. Each record's 3-D dipole curve is fitted by eight Gaussian waves in time
   (P1, P2 atrial; Q, R1, R2, S ventricular; T1, T2 repolarisation), each with its own 3-D vector:
   variable projection (vectors by ridge least squares inside a bounded nonlinear fit of centres
   and widths). T centres are stored Bazett-normalised (divided by sqrt(RR)). The P waves'
   amplitudes in V1-V6 are fitted per lead (the atria do not sit where the ventricles do), and the
   mean of what the model leaves in V1-V6 (NORM records) becomes a non-dipolar chest template.
3. Population: the per-record parameter vector theta (wave centres, log widths, vectors, log RR,
   log RR-CV, chest lead vectors, chest P amplitudes) standardised on NORM records, a rank-k PCA
   of it (the shape of the kernel and of visit-to-visit steps), shrunk mean shifts of MI / STTC /
   CD / HYP / CLBBB / female-vs-male records, and every well-fitted non-AF record as an anchor
   (with its sex, superclasses and a few SCP codes) that synthetic patients are drawn around.
   The anchors' P and T timing is shrunk toward the median by wave amplitude (empirical Bayes:
   the timing of a flat T or a small P is mostly fit noise and made QT and P tails).
4. Rhythm, ectopics and noise: RR-CV and rate of AFIB records, PVC/PAC frequency; the beat-residual
   noise spectrum per lead (raw signal minus the median beat at every beat) solved into one
   spectrum per electrode (NNLS), then calibrated in a few rounds by measuring the same residual
   spectrum on a synthetic cohort built from the written module, per lead, solved into per-electrode
   corrections; the 50 Hz line likewise; the QRS notch size per axis so that each lead's
   median-beat power above 40 Hz matches.
5. Targets for the tests: medians and IQRs of the statistics of `measure.py` on the 500 records.

    nice -n 10 .venv/bin/python scripts/fit_synthetic_cohort.py [--ptbxl PATH] [--cache FILE.npz]

Needs ../shared/data and ~10 min on one core (the beat fits; --cache keeps them for re-runs);
the cohort itself never needs PTB-XL (the fitted numbers are in the written module).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.optimize import least_squares, nnls  # noqa: E402

from ecgimg.data.synthetic.measure import (LEADS, PRE_S, POST_S, detect_r_peaks,  # noqa: E402
                                           feature_names, measure_record, median_beat)
from ecgimg.data.synthetic.morphology import (P_WAVES, T_WAVES, THETA_NAMES,  # noqa: E402
                                              WAVE_BOUNDS, WAVES, beat_basis)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGIMG_SHARED_DATA", REPO.parent / "shared" / "data"))
FS = 500.0
#: Dower's inverse transform rows for V1-V6 (Frank X, Y, Z; Z posterior): the ALS starting point.
DOWER_CHEST = np.array([[-0.515, 0.157, -0.917], [0.044, 0.164, -1.387], [0.882, 0.098, -1.277],
                        [1.213, 0.127, -0.601], [1.125, 0.127, -0.086], [0.831, 0.076, 0.230]])
VECTOR_RIDGE = 0.1  # (unit-height Gaussians have |column|^2 of about 5-60 at 500 Hz)
CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
N_COMPONENTS = 30
CALIBRATION_ROUNDS = 4


def load(root: Path, rate: int) -> tuple[np.ndarray, pd.DataFrame]:
    import wfdb

    db = pd.read_csv(root / "ptbxl_database.csv")
    statements = pd.read_csv(root / "scp_statements.csv", index_col=0)
    db["codes"] = db["scp_codes"].apply(ast.literal_eval)
    db["superclasses"] = db["codes"].apply(lambda codes: sorted(
        {statements.loc[c, "diagnostic_class"] for c in codes
         if c in statements.index and statements.loc[c, "diagnostic"] == 1}))
    column = "filename_hr" if rate == 500 else "filename_lr"
    rows, signals = [], []
    for _, row in db.iterrows():
        path = root / row[column]
        if not Path(f"{path}.hea").is_file():
            continue
        signals.append(wfdb.rdrecord(str(path)).p_signal.T.astype(np.float64))
        rows.append(row)
    return np.stack(signals), pd.DataFrame(rows).reset_index(drop=True)


def frontal(beat: np.ndarray) -> np.ndarray:
    return np.stack([beat[0], (2 * beat[1] - beat[0]) / np.sqrt(3)])


def fit_lead_vectors(beats: list[np.ndarray], window: slice = slice(None),
                     chest: np.ndarray | None = None
                     ) -> tuple[np.ndarray, list[np.ndarray], float]:
    """Population chest lead vectors C (6, 3) and each record's z(t) in `window` of the median
    beats, by alternating least squares (from Dower's matrix unless `chest` is given)."""
    if chest is None:
        chest = DOWER_CHEST * np.array([1.0, 1.0, -1.0])  # our z points anterior
        chest[:, 0] /= 0.632                              # Dower's I = 0.632 X: our x is lead I
    xy = [frontal(b)[:, window] for b in beats]
    v = [b[6:, window] for b in beats]
    for _ in range(30):
        cz = chest[:, 2]
        zs = [cz @ (vi - chest[:, :2] @ f) / (cz @ cz) for vi, f in zip(v, xy)]
        design = np.hstack([np.vstack([f, z[None]]) for f, z in zip(xy, zs)])  # (3, sum L)
        target = np.hstack(v)
        chest = np.linalg.lstsq(design.T, target.T, rcond=None)[0].T
        scale = np.sqrt(np.mean(design[2] ** 2) / np.mean(design[0] ** 2))
        chest[:, 2] *= scale                          # z as large as x on average
    cz = chest[:, 2]
    zs = [cz @ (vi - chest[:, :2] @ f) / (cz @ cz) for vi, f in zip(v, xy)]
    target = np.hstack(v)
    design = np.hstack([np.vstack([f, z[None]]) for f, z in zip(xy, zs)])
    explained = 1 - np.sum((target - chest @ design) ** 2) / np.sum(target ** 2)
    return chest, [np.vstack([f, z[None]]) for f, z in zip(xy, zs)], float(explained)


def record_chest(vectors: np.ndarray, population: np.ndarray, dipole: np.ndarray,
                 ridge: float) -> np.ndarray:
    """One record's chest lead vectors, ridge-shrunk toward the population's."""
    gram = dipole @ dipole.T + ridge * np.eye(3)
    return np.linalg.solve(gram, dipole @ vectors.T + ridge * population.T).T


def fit_beat(dipole: np.ndarray, t_s: np.ndarray, start: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, float]:
    """(centres+log widths (2W,), vectors (W, 3), R^2) of the Gaussian-wave fit of one dipole."""
    lo = np.r_[[b[0] for b in WAVE_BOUNDS.values()], np.log([b[2] for b in WAVE_BOUNDS.values()])]
    hi = np.r_[[b[1] for b in WAVE_BOUNDS.values()], np.log([b[3] for b in WAVE_BOUNDS.values()])]
    weight = np.ones_like(t_s)

    def solve(params):
        basis = np.hstack([beat_basis(t_s, params[:len(WAVES)], np.exp(params[len(WAVES):])),
                           np.ones((len(t_s), 1))])
        # a small ridge keeps two overlapping waves from cancelling with huge opposite vectors
        gram = basis.T @ basis + VECTOR_RIDGE * np.eye(basis.shape[1])
        vectors = np.linalg.solve(gram, basis.T @ dipole.T)
        return basis, vectors

    def residual(params):
        basis, vectors = solve(params)
        return ((basis @ vectors - dipole.T) * weight[:, None]).ravel()

    fit = least_squares(residual, np.clip(start, lo + 1e-6, hi - 1e-6), bounds=(lo, hi),
                        x_scale=np.r_[np.full(len(WAVES), 0.01), np.full(len(WAVES), 0.3)],
                        max_nfev=200)
    _, vectors = solve(fit.x)
    r2 = 1 - np.sum(fit.fun ** 2) / np.sum((dipole - dipole.mean(1, keepdims=True)) ** 2)
    return fit.x, vectors[:len(WAVES)], float(r2)


def shrunk_shift(group: np.ndarray, reference: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Mean difference in sd units, soft-thresholded by 1.5 standard errors per dimension: with
    60 dimensions and tens of records, unshrunk sampling noise alone would add a spurious
    separation of about one sd between the groups."""
    diff = (group.mean(axis=0) - reference.mean(axis=0)) / sd
    se = np.sqrt(group.var(axis=0) / len(group) + reference.var(axis=0) / len(reference)) / sd
    return np.sign(diff) * np.clip(np.abs(diff) - 1.5 * se, 0.0, None)


def shrink_timing(anchor_z: np.ndarray, anchor_theta: np.ndarray, waves: np.ndarray
                  ) -> tuple[np.ndarray, tuple[float, float, np.ndarray]]:
    """(anchor_z with the centres and log widths of `waves` shrunk toward their median,
    (s2, c, weights)). Over the anchors, E[dz^2] = s2 + c / a^2 (a: the waves' summed vector
    norm, mV) splits each anchor's timing deviation into true spread s2 and fit noise c / a^2;
    each keeps the share s2 / (s2 + c / a^2) of it. On PTB-XL the flattest fifth of T waves has
    ~3x the T-timing spread of the rest: that excess is fit noise, not physiology."""
    vectors = anchor_theta[:, 2 * len(WAVES):5 * len(WAVES)].reshape(len(anchor_z), len(WAVES), 3)
    amplitude = np.linalg.norm(vectors[:, waves], axis=2).sum(axis=1)
    dims = np.r_[np.flatnonzero(waves), len(WAVES) + np.flatnonzero(waves)]
    centre = np.median(anchor_z[:, dims], axis=0)
    deviation = anchor_z[:, dims] - centre
    design = np.c_[np.ones(len(amplitude)), 1.0 / amplitude ** 2]
    s2, c = np.linalg.lstsq(design, (deviation ** 2).mean(axis=1), rcond=None)[0]
    s2, c = max(float(s2), 1e-3), max(float(c), 0.0)
    weight = s2 / (s2 + c / amplitude ** 2)
    out = anchor_z.copy()
    out[:, dims] = centre + weight[:, None] * deviation
    return out, (s2, c, weight)


def electrode_correction(mix: np.ndarray, electrode_power: np.ndarray, lead_delta: np.ndarray,
                         ridge: float = 0.05) -> np.ndarray:
    """log10 power correction per electrode that moves each lead's log10 power by `lead_delta`
    (linearised: a lead moves by the power-weighted mean of its electrodes' moves), ridge-pulled
    toward the leads' median correction where the leads cannot tell electrodes apart."""
    share = mix * electrode_power[None, :]
    share = share / share.sum(axis=1, keepdims=True)
    ok = np.isfinite(lead_delta)
    common = float(np.median(lead_delta[ok]))
    design = np.vstack([share[ok], np.sqrt(ridge) * np.eye(mix.shape[1])])
    target = np.r_[lead_delta[ok] - common, np.zeros(mix.shape[1])]
    return common + np.linalg.lstsq(design, target, rcond=None)[0]


def noise_spectrum(signal: np.ndarray, template: np.ndarray, peaks: np.ndarray,
                   edges_hz: np.ndarray) -> np.ndarray:
    """Mean PSD (mV^2/Hz) per lead in log-spaced bands of the record minus its median beat."""
    residual = signal - signal.mean(axis=1, keepdims=True)
    pre = int(PRE_S * FS)
    for p in peaks:
        a, b = p - pre, p - pre + template.shape[1]
        if a >= 0 and b <= signal.shape[1]:
            residual[:, a:b] -= template
    n = residual.shape[1]
    window = np.hanning(n)
    spec = np.abs(np.fft.rfft(residual * window, axis=1)) ** 2 / (window ** 2).sum() / FS * 2
    freq = np.fft.rfftfreq(n, 1 / FS)
    mains = np.zeros(freq.shape, dtype=bool)
    for f0 in (50.0, 60.0):
        for k in (1, 2, 3, 4):
            mains |= np.abs(freq - k * f0) <= 1.0
    out = np.zeros((12, len(edges_hz) - 1))
    for k in range(len(edges_hz) - 1):
        sel = (freq >= edges_hz[k]) & (freq < edges_hz[k + 1]) & ~mains
        out[:, k] = spec[:, sel].mean(axis=1) if sel.any() else np.nan
    line = np.array([np.sqrt(2 * spec[:, np.abs(freq - 50.0) <= 0.3].sum(axis=1)
                             * (freq[1] - freq[0]))]).T                  # 50 Hz amplitude, mV
    return np.hstack([out, line])


def fmt(array: np.ndarray, digits: int = 4) -> str:
    return np.array2string(np.asarray(array), precision=digits, separator=", ",
                           max_line_width=96, threshold=100000, suppress_small=True,
                           floatmode="maxprec")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ptbxl", default=str(SHARED / "ptbxl"))
    parser.add_argument("--out", default=str(REPO / "ecgimg/data/synthetic/ptbxl_fit.py"))
    parser.add_argument("--measurements", default=None, help="also write measurements (CSV)")
    parser.add_argument("--cache", default=None, help="npz to keep/reuse the beat fits (slow)")
    args = parser.parse_args()
    root = Path(args.ptbxl)
    t_start = time.perf_counter()
    signals, meta = load(root, 500)
    signals100, meta100 = load(root, 100)
    print(f"loaded {len(signals)} records at 500 Hz, {len(signals100)} at 100 Hz "
          f"({time.perf_counter() - t_start:.0f} s)")

    names = feature_names()
    measured = pd.DataFrame([measure_record(s, FS) for s in signals], columns=names)
    measured100 = pd.DataFrame([measure_record(s, 100.0) for s in signals100], columns=names)
    if args.measurements:
        pd.concat([meta[["ecg_id", "patient_id", "sex"]], measured], axis=1).to_csv(
            args.measurements, index=False)

    # --- 1. median beats and lead vectors -------------------------------------------------
    beats, peaks_of, keep = [], [], []
    for i, s in enumerate(signals):
        peaks = detect_r_peaks(s, FS)
        try:
            template, _, _ = median_beat(s, FS, peaks, highcut_hz=150.0)
        except ValueError:
            continue
        beats.append(template)
        peaks_of.append(peaks)
        keep.append(i)
    meta_k = meta.iloc[keep].reset_index(drop=True)
    chest, dipoles, explained = fit_lead_vectors(beats)
    print(f"chest leads: a 3-D dipole explains {explained:.3f} of V1-V6 median-beat power")
    chest_r = np.stack([record_chest(b[6:], chest, d, ridge=0.01 * np.mean(d ** 2) * d.shape[1])
                        for b, d in zip(beats, dipoles)])

    # --- 2. beat fits ----------------------------------------------------------------------
    t_s = np.arange(-int(PRE_S * FS), int(POST_S * FS)) / FS
    start = np.r_[[b[4] for b in WAVE_BOUNDS.values()], np.log([b[5] for b in WAVE_BOUNDS.values()])]
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        saved = np.load(cache)
        fits = list(zip(saved["params"], saved["vectors"], saved["r2"]))
    else:
        fits = [fit_beat(d, t_s, start) for d in dipoles]
        if cache is not None:
            np.savez(cache, params=np.stack([f[0] for f in fits]),
                     vectors=np.stack([f[1] for f in fits]), r2=np.array([f[2] for f in fits]))
    # atria lie above and behind the ventricles: their waves see other effective chest lead
    # vectors. Refit C in the P window, then each record's atrial anterior components.
    pre = int(PRE_S * FS)
    p_window = slice(pre - int(0.26 * FS), pre - int(0.07 * FS))
    atrial_chest, atrial_dipoles, atrial_explained = fit_lead_vectors(beats, p_window, chest.copy())
    print(f"atrial chest lead vectors: a 3-D dipole explains {atrial_explained:.3f} of V1-V6 "
          "power in the P window")
    p_rows = np.array([w.startswith("P") for w in WAVES])
    chest_p = np.zeros((len(fits), 6, 2))
    for k, (params, vectors, fit_r2) in enumerate(fits):
        basis = np.hstack([beat_basis(t_s[p_window], params[:len(WAVES)][p_rows],
                                      np.exp(params[len(WAVES):][p_rows])),
                           np.ones((p_window.stop - p_window.start, 1))])
        gram = basis.T @ basis + VECTOR_RIDGE * np.eye(basis.shape[1])
        vectors = vectors.copy()
        vectors[p_rows, 2] = np.linalg.solve(gram, basis.T @ atrial_dipoles[k][2])[:-1]
        # the P waves' own amplitude in each chest lead (V1's biphasic P is not a projection)
        chest_p[k] = np.linalg.solve(gram, basis.T @ beats[k][6:, p_window].T)[:-1].T  # (6, 2)
        fits[k] = (params, vectors, fit_r2)
    # what the model cannot explain in V1-V6 (local potentials near the chest electrodes, and
    # where Gaussian waves miss the shape, e.g. the ST segment): the mean over NORM records of
    # each chest lead minus the model's own projection of its fitted waves, kept at 250 Hz
    nondipolar = []
    for b, c, cp, (params, vectors, _) in zip(beats, chest_r, chest_p, fits):
        basis = beat_basis(t_s, params[:len(WAVES)], np.exp(params[len(WAVES):]))
        ventricular = basis[:, ~p_rows] @ vectors[~p_rows]
        model = c @ ventricular.T + cp @ basis[:, p_rows].T
        residual = b[6:] - model
        nondipolar.append(residual - residual[:, :int(0.05 * FS)].mean(axis=1, keepdims=True))
    nondipolar = np.stack(nondipolar)
    r2 = np.array([f[2] for f in fits])
    print(f"beat fits: R^2 median {np.median(r2):.3f}, 10th pct {np.percentile(r2, 10):.3f} "
          f"({time.perf_counter() - t_start:.0f} s)")
    rr_s = 60.0 / measured["hr_bpm"].to_numpy()[keep]
    rr_cv = measured["rr_cv"].to_numpy()[keep]
    theta = []
    for (params, vectors, _), rr, cv, c, cp in zip(fits, rr_s, rr_cv, chest_r, chest_p):
        centres, log_widths = params[:len(WAVES)].copy(), params[len(WAVES):]
        for w, wave in enumerate(WAVES):
            if wave.startswith("T"):
                centres[w] /= np.sqrt(rr)
        theta.append(np.r_[centres, log_widths, vectors.ravel(), np.log(rr),
                           np.log(max(cv, 0.004)), c.ravel(), cp.ravel()])
    theta = np.array(theta)
    assert theta.shape[1] == len(THETA_NAMES), (theta.shape, len(THETA_NAMES))
    good = (r2 > 0.85) & np.isfinite(theta).all(axis=1)
    classes = meta_k["superclasses"]
    is_norm = good & classes.apply(lambda c: c == ["NORM"]).to_numpy()
    codes = meta_k["codes"]
    afib = codes.apply(lambda c: "AFIB" in c or "AFLT" in c).to_numpy()
    is_norm &= ~afib

    # --- 3. population model ---------------------------------------------------------------
    base = theta[is_norm]
    mean = base.mean(axis=0)
    sd = base.std(axis=0)
    z = (base - mean) / sd
    u, s_val, vt = np.linalg.svd(z, full_matrices=False)
    loadings = (vt[:N_COMPONENTS].T * s_val[:N_COMPONENTS] / np.sqrt(len(z)))  # (D, k) in sd units
    resid_sd = np.sqrt(np.clip(1 - (loadings ** 2).sum(axis=1), 0.02, None))
    shifts = {}
    for cls in CLASSES[1:]:
        member = good & classes.apply(lambda c, cls=cls: cls in c).to_numpy() & ~afib
        shifts[cls] = (shrunk_shift(theta[member], base, sd), int(member.sum()))
    lbbb = good & codes.apply(lambda c: "CLBBB" in c).to_numpy()
    shifts["CLBBB"] = (shrunk_shift(theta[lbbb], base, sd), int(lbbb.sum()))
    female = is_norm & (meta_k["sex"].to_numpy() == 1)
    male = is_norm & (meta_k["sex"].to_numpy() == 0)
    shifts["FEMALE"] = (shrunk_shift(theta[female], theta[male], sd), int(female.sum()))
    nondipolar_mean = nondipolar[is_norm].mean(axis=0)[:, ::2]        # (6, L / 2) at 250 Hz
    weight = np.einsum("rkl,kl->r", nondipolar[good][:, :, ::2], nondipolar_mean) / np.sum(
        nondipolar_mean ** 2)
    # anchors: every well-fitted non-AF, non-paced record; patients are drawn around them
    paced = codes.apply(lambda c: "PACE" in c).to_numpy()
    anchor = good & ~afib & ~paced
    anchor_z = (theta[anchor] - mean) / sd
    # a low P or T wave's timing is poorly determined by its fit: shrink it toward the anchors'
    # (empirical Bayes, by wave amplitude), so fit noise does not become P/PR/QT tails
    timing_shrink = {}
    for group, waves in (("P", P_WAVES), ("T", T_WAVES)):
        anchor_z, timing_shrink[group] = shrink_timing(anchor_z, theta[anchor], waves)
    for group, (s2, c, w) in timing_shrink.items():
        print(f"{group} timing shrinkage: E[dz^2] = {s2:.3f} + {c:.4f} / a^2 (a in mV); weight "
              f"5th/50th pct {np.percentile(w, 5):.2f}/{np.median(w):.2f}")
    anchor_sex = meta_k["sex"].to_numpy()[anchor].astype(int)
    anchor_classes = ["|".join(c) if c else "" for c in classes[anchor]]
    flagged = ("CLBBB", "CRBBB", "LAFB", "LVH", "LVOLT", "IMI", "AMI", "ASMI", "ILMI", "ISC_",
               "NDT", "NST_", "1AVB", "PVC", "PAC")
    anchor_codes = ["|".join(f for f in flagged if f in c) for c in codes[anchor]]
    prevalence = {cls: float(classes.apply(lambda c, cls=cls: cls in c).mean())
                  for cls in CLASSES}

    # --- 4. rhythm, ectopics, noise ---------------------------------------------------------
    all_codes = pd.concat([meta["codes"], meta100["codes"]])
    both = pd.concat([measured, measured100], ignore_index=True)
    af_mask = all_codes.apply(lambda c: "AFIB" in c).to_numpy()
    sinus = all_codes.apply(lambda c: "SR" in c).to_numpy()
    af_cv = np.log(both["rr_cv"].to_numpy()[af_mask])
    af_cv = af_cv[np.isfinite(af_cv)]
    af_hr = np.log(both["hr_bpm"].to_numpy()[af_mask])
    af_hr = af_hr[np.isfinite(af_hr)]
    ectopic = all_codes.apply(lambda c: "PVC" in c or "PAC" in c or "SVEXC" in c).to_numpy()
    pvc_share = float(all_codes.apply(lambda c: "PVC" in c).sum() / max(1, ectopic.sum()))
    premature = both["premature_frac"].to_numpy()[sinus & ectopic]
    edges = np.array([0.1, 0.2, 0.35, 0.5, 0.8, 1.5, 3, 6, 12, 20, 30, 40, 60, 90, 130,
                      180, 250])
    spectra = np.stack([noise_spectrum(signals[i], beats[k], peaks_of[k], edges)
                        for k, i in enumerate(keep)])                   # (N, 12, bands + 1)
    # leads are electrode differences: with independent electrodes a lead's noise power is a
    # fixed mix of electrode powers (I = RA + LA, aVR = RA + (LA + LL)/4, V1 = V1 + WCT/3...);
    # non-negative least squares on the median lead spectra gives each electrode's own
    mix = np.zeros((12, 9))
    mix[0, [0, 1]] = mix[1, [0, 2]] = mix[2, [1, 2]] = 1.0
    mix[3:6, :3] = 0.25
    mix[3, 0] = mix[4, 1] = mix[5, 2] = 1.0
    mix[6:, :3] = 1.0 / 9.0
    mix[6:, 3:] = np.eye(6)
    median_lead = np.nanmedian(spectra[..., :-1], axis=0)             # (12, bands)
    electrode_psd = np.stack([nnls(mix, median_lead[:, k])[0] for k in range(median_lead.shape[1])],
                             axis=1)                                  # (9, bands)
    shape = np.log10(np.maximum(electrode_psd, 1e-12))
    lead_shape = np.log10(mix @ electrode_psd)
    record_level = np.nanmedian(np.log10(spectra[..., :-1]) - lead_shape[None], axis=1)
    low = edges[:-1] < 0.5
    wander_dev = np.nanmedian(record_level[:, low], axis=1)
    broad_dev = np.nanmedian(record_level[:, ~low], axis=1)
    mains_amp = np.log10(np.nanmedian(spectra[..., -1], axis=1) + 1e-6)
    targets = {n: (float(np.nanmedian(measured[n])), float(np.nanpercentile(measured[n], 25)),
                   float(np.nanpercentile(measured[n], 75))) for n in names}
    by_sex = {n: float(np.nanmedian(measured100.loc[meta100["sex"] == 1, n])
                       - np.nanmedian(measured100.loc[meta100["sex"] == 0, n]))
              for n in ("qrs_mag", "qtc_ms", "t_mag", "qrs_ms", "hr_bpm")}
    print(f"fit done in {time.perf_counter() - t_start:.0f} s; NORM {is_norm.sum()}, "
          f"shift counts " + ", ".join(f"{k} {v[1]}" for k, v in shifts.items()))

    def module_text(noise_log_psd: np.ndarray, mains: tuple[np.ndarray, float],
                    notch_sd: np.ndarray) -> str:
        return "\n".join(lines).replace("@NOISE_LOG_PSD@", fmt(noise_log_psd, 3)).replace(
            "@NOTCH_SD_MV@", fmt(notch_sd, 4)).replace(
            "@MAINS_LOG_AMP@", f"(np.array({fmt(mains[0], 4)}), {mains[1]:.4f})")

    lines = [
        '"""PTB-XL-fitted parameters of the synthetic cohort. GENERATED: do not edit by hand.',
        "",
        "Written by scripts/fit_synthetic_cohort.py (re-run it to re-fit) from the PTB-XL v1.0.3",
        f"subset in ../shared/data/ptbxl: {len(signals)} records at 500 Hz (beat model, lead "
        "vectors, noise,",
        f"targets) and {len(signals100)} labelled records at 100 Hz (rhythm of AFIB records, "
        "sex effects).",
        "PTB-XL: Wagner et al., Scientific Data 7, 154 (2020), CC BY 4.0. See the script for "
        "the method.",
        '"""',
        "import numpy as np",
        "",
        f"#: Share of V1-V6 median-beat power a 3-D dipole explains: {explained:.3f}.",
        f"CHEST_LEAD_VECTORS = np.array({fmt(chest)})",
        "#: Mean non-dipolar part of V1-V6 (mV) over NORM median beats at 250 Hz, from "
        f"-{PRE_S} s to {POST_S} s",
        "#: around the fiducial, and the sd of its per-record weight.",
        f"NONDIPOLAR_CHEST = np.array({fmt(nondipolar_mean, 4)})",
        f"NONDIPOLAR_WEIGHT_SD = {np.std(weight):.4f}",
        f"#: The same for atrial waves, fitted in the P window (explains {atrial_explained:.3f}).",
        f"ATRIAL_CHEST_LEAD_VECTORS = np.array({fmt(atrial_chest)})",
        f"#: Beat fits (R^2 median {np.median(r2):.3f}); theta over {int(is_norm.sum())} NORM "
        "sinus records.",
        f"THETA_MEAN = np.array({fmt(mean, 5)})",
        f"THETA_SD = np.array({fmt(sd, 5)})",
        f"#: Rank-{N_COMPONENTS} loadings (D, k) of the standardised theta, and residual SDs.",
        f"THETA_LOADINGS = np.array({fmt(loadings, 3)})",
        f"THETA_RESID_SD = np.array({fmt(resid_sd, 3)})",
        "#: Mean theta shift (in THETA_SD units) of records with each class vs NORM (n records),",
        "#: soft-thresholded by 1.5 standard errors; FEMALE: female minus male among NORM records.",
        "THETA_SHIFT = {",
        *[f"    {k!r}: np.array({fmt(v[0], 3)}),  # n={v[1]}" for k, v in shifts.items()],
        "}",
        f"SUPERCLASS_PREVALENCE = {prevalence!r}",
        f"#: Anchors: theta (standardised as above) of the {int(anchor.sum())} well-fitted records "
        "without AF/flutter",
        "#: or pacing, with their sex (1 = female), superclasses and a few SCP codes. Patients are",
        "#: drawn around a random anchor (a smoothed bootstrap), so the cohort keeps PTB-XL's",
        "#: non-Gaussian mix of normal and pathological beats. P and T timing (centres, widths) is",
        "#: shrunk toward the anchors' median by wave amplitude a (fit noise, see shrink_timing):",
        *[f"#:   {g}: E[dz^2] = {v[0]:.3f} + {v[1]:.4f} / a^2, median weight {np.median(v[2]):.2f}"
          for g, v in timing_shrink.items()],
        f"ANCHOR_Z = np.array({fmt(anchor_z, 3)})",
        f"ANCHOR_SEX = np.array({fmt(anchor_sex)})",
        f"ANCHOR_CLASSES = {tuple(anchor_classes)!r}",
        f"ANCHOR_CODES = {tuple(anchor_codes)!r}",
        "#: log RR-CV (mean, sd) and log heart rate (mean, sd) of AFIB records (500 + 100 Hz).",
        f"AF_LOG_RR_CV = ({af_cv.mean():.4f}, {af_cv.std():.4f})",
        f"AF_LOG_HR = ({af_hr.mean():.4f}, {af_hr.std():.4f})",
        f"#: Records with PVC/PAC/SVEXC codes among sinus records; PVC share; premature beat "
        "fraction (median).",
        f"ECTOPIC_RECORD_SHARE = {float(ectopic[sinus].mean()):.4f}",
        f"PVC_SHARE = {pvc_share:.4f}",
        f"ECTOPIC_PREMATURE_FRACTION = {float(np.nanmedian(premature)) if len(premature) else 0.1:.4f}",
        "#: Electrode noise: band edges (Hz), log10 PSD (mV^2/Hz) per electrode (RA, LA, LL, V1-V6)",
        "#: and band (NNLS on the median lead spectra of the beat residuals), and per-record",
        "#: log10 deviations (sd) of the wander (< 0.5 Hz) and broadband components.",
        f"NOISE_BAND_EDGES_HZ = np.array({fmt(edges, 3)})",
        "NOISE_LOG_PSD = np.array(@NOISE_LOG_PSD@)",
        f"NOISE_WANDER_LOG_SD = {np.nanstd(wander_dev):.4f}",
        f"NOISE_BROAD_LOG_SD = {np.nanstd(broad_dev):.4f}",
        f"NOISE_WANDER_BROAD_CORR = {np.corrcoef(wander_dev, broad_dev)[0, 1]:.4f}",
        "#: log10 50 Hz line amplitude (mV): median per electrode (RA, LA, LL, V1-V6), sd (both",
        "#: calibrated so that each lead's median line matches PTB-XL's).",
        "MAINS_LOG_AMP = @MAINS_LOG_AMP@",
        "#: sd (mV) of the x, y, z components of a QRS notch's vector (traits._notches), calibrated",
        "#: so that each lead's median-beat power above 40 Hz matches PTB-XL's median.",
        "NOTCH_SD_MV = np.array(@NOTCH_SD_MV@)",
        "#: Female minus male medians on the 100 Hz records (qrs/t magnitude mV, ms, bpm).",
        f"SEX_DIFFERENCE = {({k: round(v, 4) for k, v in by_sex.items()})!r}",
        "#: Median, 25th and 75th percentile of each statistic of measure.py on the 500 Hz "
        "records.",
        "TARGETS = {",
        *[f"    {k!r}: ({v[0]:.4g}, {v[1]:.4g}, {v[2]:.4g})," for k, v in targets.items()],
        "}",
        "",
    ]
    out = Path(args.out)
    mains = (np.full(9, float(np.nanmedian(mains_amp))), float(np.nanstd(mains_amp)))
    notch_sd = np.full(3, 0.1)
    out.write_text(module_text(shape, mains, notch_sd))
    # calibration: the beat residual of synthetic records also holds the generator's own beat
    # variation and filter leakage; measure it exactly as on PTB-XL and correct each band and
    # electrode, so that every lead's median residual spectrum and 50 Hz line match PTB-XL's
    # (one correction for all leads left V1/V2 too noisy and the limb leads too quiet)
    real_median = np.nanmedian(spectra, axis=0)
    real_beat_hf = np.median(np.stack([beat_hf_power(b) for b in beats]), axis=0)
    leads_xyz = lead_matrix(chest)
    for iteration in range(CALIBRATION_ROUNDS):
        synthetic, synthetic_beat_hf = synthetic_residual_spectra(out, edges)
        # QRS fine structure: notch variance per axis from the leads' median-beat HF power
        hf_delta = real_beat_hf - synthetic_beat_hf
        notch_sd = np.clip(notch_sd * 10.0 ** (0.5 * electrode_correction(
            leads_xyz ** 2, notch_sd ** 2, hf_delta)), 0.005, 0.3)
        delta = np.log10(real_median) - np.log10(synthetic)               # (12 leads, bands + 1)
        shape = shape + np.stack([electrode_correction(mix, 10.0 ** shape[:, k], delta[:, k])
                                  for k in range(shape.shape[1])], axis=1)
        # line amplitudes add in power across electrodes (independent phases)
        mains = (mains[0] + 0.5 * electrode_correction(mix, 10.0 ** (2 * mains[0]),
                                                       2 * delta[:, -1]), mains[1])
        out.write_text(module_text(shape, mains, notch_sd))
        print(f"noise calibration {iteration + 1}: |lead correction| (log10) median "
              f"{np.nanmedian(np.abs(delta)):.3f}, max {np.nanmax(np.abs(delta)):.3f}; beat HF "
              f"per lead (log10) {np.round(hf_delta, 2)} -> notch sd {np.round(notch_sd, 4)}")
    print(f"wrote {args.out}")


def beat_hf_power(template: np.ndarray) -> np.ndarray:
    """log10 power (mV^2) above 40 Hz of a (12, L) median beat per lead: the QRS's notches and
    slurs, which a beat of smooth Gaussian waves lacks and `NOTCH_SD_MV` supplies."""
    spec = np.abs(np.fft.rfft(template - template.mean(axis=1, keepdims=True), axis=1)) ** 2
    freq = np.fft.rfftfreq(template.shape[1], 1 / FS)
    return np.log10(spec[:, freq > 40.0].sum(axis=1) / template.shape[1] + 1e-12)


def lead_matrix(chest: np.ndarray) -> np.ndarray:
    """(12, 3) lead vectors of the dipole model: Einthoven/Goldberger limb leads, `chest`."""
    lead_i, lead_ii = np.array([1.0, 0.0, 0.0]), np.array([0.5, np.sqrt(3) / 2, 0.0])
    lead_iii = lead_ii - lead_i
    return np.vstack([lead_i, lead_ii, lead_iii, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2,
                      lead_ii - lead_i / 2, chest])


def synthetic_residual_spectra(module_path: Path, edges: np.ndarray, n_patients: int = 150
                               ) -> tuple[np.ndarray, np.ndarray]:
    """(median residual noise spectrum per lead, median `beat_hf_power` per lead) of a synthetic
    cohort built with `module_path`."""
    import importlib.util
    import sys

    from ecgimg.data.synthetic import noise as noise_module
    from ecgimg.data.synthetic import ptbxl_fit

    spec = importlib.util.spec_from_file_location("ptbxl_fit_candidate", module_path)
    candidate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(candidate)
    ptbxl_fit.__dict__.update({k: v for k, v in vars(candidate).items() if k.isupper()})
    noise_module._base_amplitude.cache_clear()
    from ecgimg.data.synthetic import synthetic_cohort

    sys.stdout.flush()
    spectra, beat_hf = [], []
    for record in synthetic_cohort(n_patients, 1, seed=12345):
        signal = record.signal.astype(np.float64)
        peaks = detect_r_peaks(signal, FS)
        try:
            template, _, _ = median_beat(signal, FS, peaks, highcut_hz=150.0)
        except ValueError:
            continue
        spectra.append(noise_spectrum(signal, template, peaks, edges))
        beat_hf.append(beat_hf_power(template))
    return np.nanmedian(np.stack(spectra), axis=0), np.median(np.stack(beat_hf), axis=0)


if __name__ == "__main__":
    main()
