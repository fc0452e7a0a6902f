"""Pages per second on one core: our renderer vs ecg-plot (Matplotlib adapter) vs plain Matplotlib.

Measures, in one run on the same real PTB-XL record (or a synthetic one when the data is absent):
  A. clean 3x4+1R, 200-DPI letter page with full ground truth (render.render)
  B. randomly degraded page at 512 px training size (render.random_spec + render.render)
  C. ecg-plot 0.3 chart rasterised through its Matplotlib adapter at 200 DPI
  D. a plain Matplotlib 3x4+1R page with a 1/5 mm grid at 200 DPI (the ecg-image-kit approach)
  E. a random training view as RenderedImages draws it (image_size 256, render_dpi 100, out_size)
Times are CPU seconds of this process (time.process_time), so other jobs on a shared machine do
not inflate them; wall-clock figures are printed too. Usage: python benchmarks/render_speed.py [N]
PYTHONPATH=<other checkout> measures that checkout's renderer with this script (before/after).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)
sys.path.append(str(Path(__file__).resolve().parents[1]))  # PYTHONPATH (another checkout) wins
import render  # noqa: E402

STANDARD = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
PTBXL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptbxl"


def load_signal():
    rec = PTBXL / "records500" / "00000" / "00001_hr"
    if rec.with_suffix(".hea").is_file():
        import wfdb

        r = wfdb.rdrecord(str(rec))
        return r.p_signal.T.astype(np.float32), float(r.fs), list(r.sig_name), f"PTB-XL {rec.name}"
    t = np.arange(5000) / 500.0
    sig = np.stack([np.sin(2 * np.pi * 1.2 * t + k) ** 9 for k in range(12)]).astype(np.float32)
    return sig, 500.0, STANDARD, "synthetic"


def timed(fn, n: int, warmup: int = 1) -> tuple[float, float]:
    """(CPU s, wall s) per call, after warm-up calls (imports, caches)."""
    for i in range(warmup):
        fn(-1 - i)
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i + 1)
    return (time.process_time() - c0) / n, (time.perf_counter() - w0) / n


def main(n: int = 30) -> None:
    sig, fs, leads, source = load_signal()
    style = render.PaperStyle(dpi=200)

    def clean(i):
        return render.render(sig, fs, leads, layout="3x4+1R", style=style, seed=abs(i))

    rng = np.random.default_rng(0)
    import albumentations  # noqa: F401  (imported lazily by the degradations; keep it out of timing)

    def degraded(i):
        layout, pstyle, spec = render.random_spec(rng)
        return render.render(sig, fs, leads, layout=layout, style=pstyle, degrade=spec, seed=abs(i),
                             out_size=(512, 512))

    import matplotlib

    matplotlib.use("Agg")
    import ecg_plot
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [dict(zip([n.lower() for n in STANDARD], STANDARD))[name.lower()] for name in leads]

    def ecgplot(i):
        chart = ecg_plot.plot(sig, sample_rate=fs, lead_names=names, layout="12lead",
                              time_mode="sequential", rhythm_lead="II")
        fig, _ = chart.to_matplotlib()
        canvas = FigureCanvasAgg(fig)
        fig.set_dpi(200)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())

    t = np.arange(sig.shape[1]) / fs

    def plain_matplotlib(i):
        fig = Figure(figsize=(11, 8.5), dpi=200)
        ax = fig.add_axes([0, 0, 1, 1])
        ax.set_xlim(0, 279.4)
        ax.set_ylim(215.9, 0)
        ax.set_axis_off()
        for x in np.arange(0, 280, 1.0):
            ax.axvline(x, color="#f7c4c4" if x % 5 else "#e87a7a", lw=0.3 if x % 5 else 0.6)
        for y in np.arange(0, 216, 1.0):
            ax.axhline(y, color="#f7c4c4" if y % 5 else "#e87a7a", lw=0.3 if y % 5 else 0.6)
        for k in range(12):
            r, c = k % 3, k // 3
            sl = slice(int(c * 2.5 * fs), int((c + 1) * 2.5 * fs))
            ax.plot(20 + t[sl] * 25, 50 + 40 * r - sig[k, sl] * 10, color="k", lw=0.7)
            ax.text(21 + c * 62.5, 35 + 40 * r, STANDARD[k], fontsize=8)
        ax.plot(20 + t * 25, 170 - sig[1] * 10, color="k", lw=0.7)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())

    from ecgimg.data.images import RenderedImages

    views = RenderedImages(np.stack([sig] * 4), seed=0, image_size=256, fs=fs, leads=leads)

    def training_view(i):
        return views.render_view(abs(i) % 4, view=abs(i))

    slow_n = max(3, n // 10)
    results = {
        "A ours: clean 3x4+1R 200-DPI letter + full truth": timed(clean, n),
        "B ours: random degraded page at 512 px (training)": timed(degraded, n, warmup=10),
        "C ecg-plot 0.3 via Matplotlib adapter, 200 DPI": timed(ecgplot, slow_n),
        "D plain Matplotlib 3x4+1R page + grid, 200 DPI": timed(plain_matplotlib, slow_n),
        "E ours: RenderedImages random view, 256 px": timed(training_view, n, warmup=5),
    }
    print(f"signal: {source}; {n} pages for A/B, {slow_n} for C/D; one thread (cv2/OMP)")
    print(f"{'case':54s} {'ms CPU':>8s} {'pages/s CPU':>12s} {'ms wall':>8s}")
    for name, (cpu, wall) in results.items():
        print(f"{name:54s} {cpu * 1e3:8.1f} {1 / cpu:12.1f} {wall * 1e3:8.1f}")
    a, b, c, d, e = (v[0] for v in results.values())
    print(f"ratios (CPU): clean ours vs ecg-plot {c / a:.1f}x, vs plain Matplotlib {d / a:.1f}x; "
          f"degraded-512 ours vs ecg-plot {c / b:.1f}x, vs plain Matplotlib {d / b:.1f}x")
    print(f"goals: clean >= 60 pages/s: {'MET' if 1 / a >= 60 else 'NOT MET'} ({1 / a:.1f}); "
          f"degraded 512 px >= 25 images/s: {'MET' if 1 / b >= 25 else 'NOT MET'} ({1 / b:.1f}); "
          f"training view 256 px >= 25 images/s: {'MET' if 1 / e >= 25 else 'NOT MET'} ({1 / e:.1f})")
    print(f"renderer: {render.__file__}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
