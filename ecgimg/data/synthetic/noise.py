"""Electrode noise with PTB-XL's spectrum: wander, broadband noise and a faint 50 Hz line.

Noise lives on the nine electrodes (RA, LA, LL, V1-V6), never on leads, so Einthoven and
Goldberger stay exact. Its power spectral density is the one measured on PTB-XL's beat residuals
(`ptbxl_fit.NOISE_LOG_PSD`, per electrode and band, solved back from the leads), drawn as coloured
Gaussian noise in the frequency domain. Each electrode's wander (< 0.5 Hz) and broadband power
is scaled by a log-normal factor made of three parts: one shared by the whole record, one shared
by its electrode group (the limb electrodes, the chest electrodes) and one of its own (a loose
electrode, a tense muscle). PTB-XL's chest electrodes wander together while its limb electrodes
wander nearly independently of them; a record-wide factor alone made every lead's wander alike
(mean inter-lead correlation of log wander power 0.61 vs PTB-XL's 0.38) and told synthetic
records apart. Spectrum and 50 Hz line are calibrated per electrode so that every lead's median
matches PTB-XL's, not only their average.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ecgimg.data.synthetic import ptbxl_fit as fit

N_ELECTRODES = 9
#: electrode group of RA, LA, LL (0: limb) and V1-V6 (1: chest)
_GROUP = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])
#: log10 power sds of the wander factor: record, group (limb, chest), electrode. Fitted by
#: scripts/fit_wander_structure.py (noise-only records vs the 500 PTB-XL records' wander powers):
#: the RMS error of the 66 inter-lead correlations falls from 0.27 (record factor 0.445 and
#: electrode 0.3) to 0.07-0.10, that of the per-lead 5/50/95th percentiles from 0.21 to 0.12; the
#: loss is flat (+-0.01) for record sds 0.1-0.3 and limb 0-0.2 once chest and own are 0.6. On a
#: full cohort (250 x 2, seed 0) the mean inter-lead correlation reads 0.40 (PTB-XL 0.38; I-V1
#: 0.21 vs 0.13, V1-V2 0.47 vs 0.48, II-III 0.79 vs 0.78; it was 0.61 with the record factor).
_WANDER_LOG_SD = (0.15, (0.1, 0.6), 0.6)
#: the wider spread raises the median of each lead's summed electrode wander; this log10 shift
#: puts the lead medians back on PTB-XL's (full cohort: every lead within 0.15 of PTB-XL's)
_WANDER_LOG_OFFSET = -0.126
#: the same for broadband noise (>= 0.5 Hz), chosen on the real-vs-synthetic classifier's
#: beat-residual features (its AUROC on them 0.74 -> 0.65; their inter-lead correlation 0.84 vs
#: PTB-XL's 0.76 with a record-wide factor)
_BROAD_LOG_SD = (0.25, (0.25, 0.25), 0.3)


def _band_psd(freq_hz: np.ndarray) -> np.ndarray:
    """(9, F) log10 PSD (mV^2/Hz) per electrode at `freq_hz`, log-log interpolated between band
    centres."""
    edges = fit.NOISE_BAND_EDGES_HZ
    centres = np.log10(np.sqrt(edges[:-1] * edges[1:]))
    f = np.log10(np.clip(freq_hz, 10 ** centres[0] * 0.5, 10 ** centres[-1]))
    return np.stack([np.interp(f, centres, row) for row in np.atleast_2d(fit.NOISE_LOG_PSD)])


@lru_cache(maxsize=8)
def _base_amplitude(n_samples: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(rfft amplitude of the median electrode PSD, mask of the wander bins) for one length."""
    freq = np.fft.rfftfreq(n_samples, 1.0 / fs)
    psd = 10.0 ** _band_psd(freq)
    psd[:, 0] = 0.0
    # one-sided PSD S -> E|X_k|^2 = S * fs * n / 2 (numpy's unnormalised rfft); /2 per part
    return np.sqrt(psd * fs * n_samples / 4.0), freq < 0.5


def _log_gains(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(wander, broadband) log10 power gain per electrode: record + group + electrode parts; the
    record parts of wander and broadband correlate as in PTB-XL."""
    c = fit.NOISE_WANDER_BROAD_CORR
    record = np.linalg.cholesky([[1.0, c], [c, 1.0]]) @ rng.standard_normal(2)
    group = rng.standard_normal((2, 2))[:, _GROUP]
    own = rng.standard_normal((2, N_ELECTRODES))
    logs = []
    for k, (record_sd, group_sd, own_sd) in enumerate((_WANDER_LOG_SD, _BROAD_LOG_SD)):
        logs.append(record_sd * record[k] + np.asarray(group_sd)[_GROUP] * group[k]
                    + own_sd * own[k])
    return logs[0] + _WANDER_LOG_OFFSET, logs[1]


def electrode_noise(rng: np.random.Generator, n_samples: int, fs: float) -> np.ndarray:
    """(9, n_samples) mV of electrode noise for one recording."""
    amplitude, wander = _base_amplitude(n_samples, float(fs))
    wander_log, broad_log = _log_gains(rng)
    gain = np.where(wander[None, :], 10.0 ** (0.5 * wander_log[:, None]),
                    10.0 ** (0.5 * broad_log[:, None]))
    scaled = amplitude * gain
    parts = rng.standard_normal((2, N_ELECTRODES, amplitude.shape[-1]))
    noise = np.fft.irfft(scaled * (parts[0] + 1j * parts[1]), n=n_samples, axis=-1)
    t_s = np.arange(n_samples) / fs
    mains_mv = 10.0 ** rng.normal(*fit.MAINS_LOG_AMP, N_ELECTRODES)
    phase = rng.uniform(0, 2 * np.pi, N_ELECTRODES)
    noise += np.outer(mains_mv * np.cos(phase), np.sin(2 * np.pi * 50.0 * t_s))
    noise += np.outer(mains_mv * np.sin(phase), np.cos(2 * np.pi * 50.0 * t_s))
    return noise
