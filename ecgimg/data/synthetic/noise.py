"""Electrode noise with PTB-XL's spectrum: wander, broadband noise and a faint 50 Hz line.

Noise lives on the nine electrodes (RA, LA, LL, V1-V6), never on leads, so Einthoven and
Goldberger stay exact. Its power spectral density is the one measured on PTB-XL's beat residuals
(`ptbxl_fit.NOISE_LOG_PSD`, per electrode and band, solved back from the leads), drawn as coloured
Gaussian noise in the frequency domain; each record scales its wander (< 0.5 Hz) and its
broadband part by log-normal factors of PTB-XL's record-to-record spread, and each electrode
by a smaller factor (one loose electrode is noisier than the rest). Spectrum and 50 Hz line are
calibrated per electrode so that every lead's median matches PTB-XL's, not only their average.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ecgimg.data.synthetic import ptbxl_fit as fit

N_ELECTRODES = 9
#: log10 power spread between the electrodes of one record (a loose electrode, a tense muscle),
#: separately for wander and broadband noise; sets how alike the leads' noise is (PTB-XL: the
#: beat residuals of I and V5 correlate 0.7 across records)
_ELECTRODE_LOG_SD = 0.3


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


def electrode_noise(rng: np.random.Generator, n_samples: int, fs: float) -> np.ndarray:
    """(9, n_samples) mV of electrode noise for one recording."""
    amplitude, wander = _base_amplitude(n_samples, float(fs))
    cov = fit.NOISE_WANDER_BROAD_CORR * fit.NOISE_WANDER_LOG_SD * fit.NOISE_BROAD_LOG_SD
    wander_dev, broad_dev = np.linalg.cholesky(
        [[fit.NOISE_WANDER_LOG_SD ** 2, cov], [cov, fit.NOISE_BROAD_LOG_SD ** 2]]
    ) @ rng.standard_normal(2)
    electrode = rng.normal(0.0, _ELECTRODE_LOG_SD, (2, N_ELECTRODES, 1))
    gain = np.where(wander[None, :], 10.0 ** (0.5 * (wander_dev + electrode[0])),
                    10.0 ** (0.5 * (broad_dev + electrode[1])))
    scaled = amplitude * gain
    parts = rng.standard_normal((2, N_ELECTRODES, amplitude.shape[-1]))
    noise = np.fft.irfft(scaled * (parts[0] + 1j * parts[1]), n=n_samples, axis=-1)
    t_s = np.arange(n_samples) / fs
    mains_mv = 10.0 ** rng.normal(*fit.MAINS_LOG_AMP, N_ELECTRODES)
    phase = rng.uniform(0, 2 * np.pi, N_ELECTRODES)
    noise += np.outer(mains_mv * np.cos(phase), np.sin(2 * np.pi * 50.0 * t_s))
    noise += np.outer(mains_mv * np.sin(phase), np.cos(2 * np.pi * 50.0 * t_s))
    return noise
