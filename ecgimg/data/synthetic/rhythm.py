"""Beat times: sinus rhythm with respiratory sinus arrhythmia, premature beats, or AF.

Sinus RR intervals follow the breath (a sinusoid at 0.15-0.35 Hz carries half the RR variance)
plus smooth AR(1) noise (rho 0.8: PTB-XL's RMSSD is about RR CV x RR, successive RRs change
little), scaled to the record's RR coefficient of variation (PTB-XL-fitted, part of
theta). Premature beats: a PVC (no P, compensatory pause) or a PAC (early P, reset) at a coupling
of 55-80% of the RR. AF: independent RR intervals, log-normal with PTB-XL's AFIB variability.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgimg.data.synthetic import ptbxl_fit as fit

NORMAL, PVC, PAC = 0, 1, 2


@dataclass
class Beats:
    """Fiducial times (s), the RR before each beat (s), beat kind, respiration phase (rad)."""

    r_s: np.ndarray
    rr_before_s: np.ndarray
    kind: np.ndarray
    resp_phase: np.ndarray


def sinus_beats(rng: np.random.Generator, rr_s: float, rr_cv: float, duration_s: float,
                n_premature: int, pvc_share: float) -> Beats:
    n = int(duration_s / rr_s) + 6
    resp_hz = rng.uniform(0.15, 0.35)
    resp_phase0 = rng.uniform(0, 2 * np.pi)
    rho, breath_share = 0.8, 0.5
    ar = np.zeros(n)
    shocks = rng.standard_normal(n) * np.sqrt(1 - rho ** 2)
    ar[0] = rng.standard_normal()
    for k in range(1, n):
        ar[k] = rho * ar[k - 1] + shocks[k]
    # iterate once: the phase of breathing at each beat needs the beat times
    times = np.cumsum(np.full(n, rr_s))
    rsa = np.sqrt(2 * breath_share) * np.sin(2 * np.pi * resp_hz * times + resp_phase0)
    rr = rr_s * np.clip(1.0 + rr_cv * (rsa + np.sqrt(1 - breath_share) * ar), 0.6, 1.6)
    kind = np.zeros(n, dtype=np.int64)
    if n_premature:
        slots = rng.choice(np.arange(3, n - 3), size=min(n_premature, n - 6), replace=False)
        for k in slots:
            coupling = rng.uniform(0.55, 0.8)
            if rng.random() < pvc_share:
                kind[k] = PVC
                rr[k + 1] = rr[k] * (2.0 - coupling)   # compensatory pause
            else:
                kind[k] = PAC
                rr[k + 1] = rr[k] * rng.uniform(1.0, 1.15)
            rr[k] *= coupling
    return _place(rng, rr, kind, resp_hz, resp_phase0)


def af_beats(rng: np.random.Generator, rr_s: float, duration_s: float) -> Beats:
    n = int(duration_s / rr_s * 1.6) + 8
    cv = np.exp(rng.normal(*fit.AF_LOG_RR_CV))
    sigma = np.sqrt(np.log1p(min(cv, 0.6) ** 2))
    rr = np.clip(rr_s * rng.lognormal(-0.5 * sigma ** 2, sigma, n), 0.28, 2.2)
    return _place(rng, rr, np.zeros(n, dtype=np.int64), rng.uniform(0.15, 0.35),
                  rng.uniform(0, 2 * np.pi))


def _place(rng: np.random.Generator, rr: np.ndarray, kind: np.ndarray, resp_hz: float,
           resp_phase0: float) -> Beats:
    """Start the recording at a random point of the rhythm (the first beat before t = 0)."""
    r_s = np.cumsum(rr) - rr[0] - rng.uniform(0.2, 1.0) * rr[1]
    return Beats(r_s=r_s, rr_before_s=rr, kind=kind,
                 resp_phase=2 * np.pi * resp_hz * r_s + resp_phase0)
