"""Header text: the rate is measured from the beats; statements come only from the caller's facts."""
from __future__ import annotations

import numpy as np
import pytest

import render
from render.header import header_lines, heart_rate_bpm, r_peaks

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def beats(rate_bpm: float, fs: float = 500.0, seconds: float = 10.0, jitter: float = 0.0, seed: int = 0):
    """Gaussian QRS spikes (and small T waves) at a given rate, on a wandering baseline."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    rr = 60.0 / rate_bpm
    centres = np.arange(0.3, seconds - 0.2, rr) + rng.normal(0, jitter, len(np.arange(0.3, seconds - 0.2, rr)))
    x = 0.2 * np.sin(2 * np.pi * 0.25 * t)
    for c in centres:
        x += 1.2 * np.exp(-((t - c) / 0.012) ** 2) + 0.3 * np.exp(-((t - c - 0.25) / 0.05) ** 2)
    return x + rng.normal(0, 0.02, len(t)), centres


@pytest.mark.parametrize("rate", [42, 75, 118, 160])
def test_rate_is_measured_from_the_beats(rate):
    x, centres = beats(rate, jitter=0.01, seed=rate)
    sig = np.tile(x, (12, 1)) * 0.8
    measured = heart_rate_bpm(sig, 500.0, LEADS)
    assert measured == pytest.approx(rate, rel=0.04)
    peaks = r_peaks(x, 500.0)
    assert len(peaks) == len(centres)
    assert np.abs(peaks / 500.0 - centres).max() < 0.02


def test_no_beats_no_rate():
    assert heart_rate_bpm(np.zeros((12, 5000)), 500.0, LEADS) is None


def test_header_states_only_measured_rate_and_given_facts():
    demo, meas, stmt = header_lines(np.random.default_rng(0), rate_bpm=61.6)
    assert meas == ["Vent. rate  62 BPM"]  # no invented PR/QRS/QT/axes
    assert stmt == ["Unconfirmed report"]  # no invented diagnosis
    demo, meas, stmt = header_lines(np.random.default_rng(0), None,
                                    {"statements": ["Atrial fibrillation"], "age": 71, "sex": "Female"})
    assert meas == [] and stmt[0] == "Atrial fibrillation" and "71 yr  Female" in demo


def test_rendered_header_agrees_with_the_signal_and_facts_reproduce():
    x, _ = beats(112)
    sig = np.tile(x, (12, 1)) * 0.8
    r = render.render(sig, 500.0, LEADS, style="classic", seed=3, facts={"statements": ["Sinus tachycardia"]})
    text = [t["text"] for t in r.truth["text"]]
    assert any(t.startswith("Vent. rate  11") for t in text)
    assert "Sinus tachycardia" in text and not any("PR interval" in t for t in text)
    again = render.render(sig, 500.0, LEADS, **r.truth["params"])
    assert again.image.tobytes() == r.image.tobytes()
    with pytest.raises(ValueError, match="facts"):
        render.render(sig, 500.0, LEADS, facts={"diagnosis": "x"})
