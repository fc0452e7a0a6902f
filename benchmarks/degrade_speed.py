"""Milliseconds per degradation effect, per preset and per random spec, on one core.

Pages: a clean 3x4+1R render of a synthetic 12-lead signal at 512x512 (training size) and at a
200-DPI letter page (1700x2200), with the full truth point set (one point per plotted sample).
Times are CPU time of this process (``time.process_time``), median of repeats, with OpenCV held
to one thread, so they approximate one core even on a shared machine.

Run: .venv/bin/python benchmarks/degrade_speed.py [--repeats N]
(PYTHONPATH=<other checkout> measures that checkout's degradations: before/after in one run.)
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parents[1]))  # PYTHONPATH (another checkout) wins
import render  # noqa: E402
from render import degrade_spec as S  # noqa: E402
from render.degrade import DEGRADE_PRESETS, DegradeSpec, apply_degradations, random_degrade_spec  # noqa: E402

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
SINGLE = {
    "rotation": DegradeSpec(rotation=S.RotationSpec(3.0)),
    "perspective": DegradeSpec(perspective=S.PerspectiveSpec(0.06, (0.85, 0.95)), background="table"),
    "curl+folds": DegradeSpec(curl=S.CurlSpec(0.02, 1.0, (0.1, 0.25), 2)),
    "crop": DegradeSpec(crop=S.CropSpec(0.05)),
    "paper tint": DegradeSpec(paper=S.PaperSpec(0.08)),
    "creases (2)": DegradeSpec(creases=S.CreaseSpec(2, (0.1, 0.2))),
    "wrinkles": DegradeSpec(wrinkles=S.WrinkleSpec()),
    "lighting+shadow": DegradeSpec(lighting=S.LightingSpec((0.1, 0.2), (0.1, 0.2), 1)),
    "blur gaussian": DegradeSpec(blur=S.BlurSpec(("gaussian",))),
    "blur motion": DegradeSpec(blur=S.BlurSpec(("motion",), (0.0015, 0.002))),
    "blur defocus": DegradeSpec(blur=S.BlurSpec(("defocus",), (0.0015, 0.002))),
    "colour jitter": DegradeSpec(colour=S.ColourSpec()),
    "noise grey": DegradeSpec(noise=S.NoiseSpec()),
    "noise chromatic": DegradeSpec(noise=S.NoiseSpec(chromatic=True)),
    "jpeg": DegradeSpec(jpeg=S.JpegSpec()),
    "photocopy": DegradeSpec(black_white=S.BlackWhiteSpec("photocopy")),
    "fax": DegradeSpec(black_white=S.BlackWhiteSpec("fax")),
}
if hasattr(S, "CameraSpec"):  # effects added by issue 12 (absent when PYTHONPATH is an older checkout)
    SINGLE.update({
        "framing tight": DegradeSpec(framing=S.FramingSpec("tight")),
        "ripple": DegradeSpec(ripple=S.RippleSpec()),
        "camera scanner": DegradeSpec(camera=DEGRADE_PRESETS["scan"].camera),
        "camera phone": DegradeSpec(camera=DEGRADE_PRESETS["photo"].camera),
        "glare": DegradeSpec(lighting=S.LightingSpec(max_glare=2)),
    })


def synthetic_signal(seed: int = 0) -> np.ndarray:
    t = np.arange(5000) / 500.0
    rng = np.random.default_rng(seed)
    beats = sum(np.exp(-((t - c) / 0.012) ** 2) for c in np.arange(0.4, 10, 0.85))
    return np.stack([beats * rng.uniform(0.5, 1.5) + 0.1 * np.sin(2 * np.pi * 0.3 * t + k)
                     for k in range(12)]).astype(np.float32)


def ms_per_call(fn, repeats: int) -> float:
    fn()  # warm-up (lazy imports, caches)
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return 1000.0 * float(np.median(times))


def page_and_points(out_hw):
    """A real clean page plus a truth-sized point set (12 x 1250 + 5000 rhythm samples) laid along
    the page; the point cost does not depend on where the points are."""
    image = render.render(synthetic_signal(), 500.0, LEADS, layout="3x4+1R", seed=0).image
    if out_hw != image.shape[:2]:
        image = cv2.resize(image, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    points = {}
    for k, n in enumerate([1250] * 12 + [5000]):
        xs = np.linspace(0.05 * w, 0.95 * w, n)
        points[f"panel{k}"] = np.stack([xs, np.full(n, (k % 4 + 1) * h / 6.0) + 5 * np.sin(xs)], axis=1)
    return image, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sizes = {"512x512": (512, 512), "letter 200dpi": (1700, 2200)}
    pages = {name: page_and_points(hw) for name, hw in sizes.items()}
    n_points = sum(len(v) for v in pages["512x512"][1].values())
    print(f"ms per call (CPU time, median of {args.repeats}); {n_points} truth points per page")
    print(f"{'effect':<22}" + "".join(f"{name:>16}" for name in sizes))
    rows = list(SINGLE.items()) + [(f"preset {k}", v) for k, v in DEGRADE_PRESETS.items()]
    for label, spec in rows:
        cells = []
        for image, points in pages.values():
            rng = np.random.default_rng(0)
            cells.append(ms_per_call(lambda: apply_degradations(image, points, None, spec, rng), args.repeats))
        print(f"{label:<22}" + "".join(f"{c:>16.2f}" for c in cells))
    # the training path: a random spec per image, applied at 512 px straight from the full page
    rng = np.random.default_rng(1)
    specs = [random_degrade_spec(rng) for _ in range(200)]
    image, points = pages["512x512"]
    t0 = time.process_time()
    for spec in specs:
        apply_degradations(image, points, None, spec, rng)
    mean_ms = 1000.0 * (time.process_time() - t0) / len(specs)
    full, full_points = pages["letter 200dpi"]
    t0 = time.process_time()
    for spec in specs[:60]:
        apply_degradations(full, full_points, None, spec, rng, out_size=(512, 512))
    resize_ms = 1000.0 * (time.process_time() - t0) / 60
    print(f"random spec at 512 px (page already 512):        {mean_ms:6.2f} ms  (goal < 15)")
    print(f"random spec, 200-DPI page -> out_size 512 first: {resize_ms:6.2f} ms")


if __name__ == "__main__":
    main()
