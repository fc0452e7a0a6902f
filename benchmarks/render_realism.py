"""How far are rendered ECG images from real scans? Two-sample tests, ours vs ecg-image-kit, one run.

Real: the 52 scans in ../shared/data/scans (top level; sample-segments/ are single-lead crops).
Generated, from the same PTB-XL records (records500, ecg_id 1..N):
  ours/whole   render.random_spec page as delivered (what `ecg-render --random` writes)
  ours/train-page  RenderedImages(image_size=S) views (the training path, with out_size),
               letterboxed, against real scans through ScanFolder(image_size=S, crop="page")
  ours/train-grid  the grid-cut training policy (RenderedImages(**PAGE_POLICIES["readable"])) against real
               scans through ScanFolder(crop="grid"), where this tree's ScanFolder can cut scans
  ours/grid    whole pages and real scans alike rescaled to the real median 4.35 px/mm (scale
               measured from the grid period) and cut to the grid region, by the same detector
  eik/...      the same three for ecg-image-kit pages (its --fully_random mode, handwriting off:
               that needs TensorFlow; grid colour and header random), run from a source checkout
               in its own venv: --eik PATH/codes/ecg-image-generator --eik-python VENV/bin/python
Each test: (a) logistic regression on 73 image statistics (colour, paper grey, edges, spectrum,
local contrast, flat-region noise, JPEG blockiness, grid period/strength), 5-fold CV repeated 5x;
(b) a small CNN on 48 px crops (mean logit over crops per image), 5-fold CV. AUROC 0.5 = the
generated images cannot be told from real ones. CIs: bootstrap over images with the out-of-fold
scores fixed; ours-vs-eik p-value: paired bootstrap over (real images, records).

Usage: python benchmarks/render_realism.py --eik /work/scratch/i12/ecg-image-kit/codes/ecg-image-generator \
         --eik-python /work/scratch/i12/eik-venv/bin/python --cache /work/scratch/i12/realism \
         --sheet /work/scratch/i12/contact.png [--n 60] [--label after]
The eik pages are cached under --cache (they take ~5 CPU s each); ours are rendered every run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # PYTHONPATH (e.g. a checkout of the "before" commit) comes first
sys.path.insert(0, str(Path(__file__).resolve().parent))
from realism_features import features, giveaways, scan_crop  # noqa: E402

MATCHED_PX_PER_MM = 4.35  # median of the real scans, measured from the grid period
WORK_SIDE_PX = 1024       # whole images are analysed at this long side
CNN_CROP_PX = 48
_EIK_DRIVER = '''
import glob, os, random, sys, types
gen, out, seed, recs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
os.chdir(gen); sys.path.insert(0, gen)
stub = types.ModuleType("HandwrittenText.generate"); stub.get_handwritten = lambda **kw: kw["input_file"]
sys.modules["HandwrittenText"] = types.ModuleType("HandwrittenText"); sys.modules["HandwrittenText.generate"] = stub
import numpy as np
from gen_ecg_image_from_data import get_parser, run_single_file
for rec in recs:
    name = os.path.basename(rec); d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    s = seed * 100003 + int(name.split("_")[0]); random.seed(s); np.random.seed(s % 2**32)
    run_single_file(get_parser().parse_args(["-i", rec + ".dat", "-hea", rec + ".hea", "-o", d, "-se", str(s),
        "-st", "0", "--random_grid_color", "--random_print_header", "0.8", "--calibration_pulse", "0.9",
        "--fully_random", "-rot", "5", "-noise", "40", "-ca", "45", "--store_config", "1"]))
    print(name, flush=True)
'''


# ----------------------------------------------------------------------------- image sets
def real_scans() -> list[np.ndarray]:
    from ecgimg.data.images import IMAGE_EXTENSIONS, read_image_rgb
    files = sorted(p for p in (SHARED / "scans").iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    return [read_image_rgb(p) for p in files]


def ptbxl_records(n: int):
    import wfdb
    out = []
    for ecg_id in range(1, n + 1):
        path = SHARED / "ptbxl" / "records500" / f"{ecg_id // 1000 * 1000:05d}" / f"{ecg_id:05d}_hr"
        r = wfdb.rdrecord(str(path))
        out.append((str(path), r.p_signal.T.astype(np.float32), float(r.fs), list(r.sig_name)))
    return out


def ours_whole(records, seed: int) -> list[np.ndarray]:
    import render
    pages = []
    for i, (_, sig, fs, leads) in enumerate(records):
        layout, style, degrade = render.random_spec(np.random.default_rng([seed, i]))
        pages.append(render.render(sig, fs, leads, layout=layout, style=style, degrade=degrade, seed=i).image)
    return pages


def scanfolder_crops() -> bool:
    """Whether this tree's ScanFolder can cut scans to their grid (the "before" commit cannot)."""
    import inspect

    from ecgimg.data.images import ScanFolder
    return "crop" in inspect.signature(ScanFolder).parameters


def ours_train(records, seed: int, size: int, crop: str) -> list[np.ndarray]:
    """crop="page": RenderedImages' defaults (letterboxed page); crop="grid": the project's
    grid-cut training policy, PAGE_POLICIES["readable"] (drawn at 2x, cut to the lead grid, stretched)."""
    from ecgimg.data import images
    policy = dict(images.PAGE_POLICIES["readable"]) if crop == "grid" else {}
    ds = images.RenderedImages(np.stack([r[1] for r in records]), seed=seed, image_size=size,
                               fs=records[0][2], leads=records[0][3], **policy)
    return [ds.render_view(i) for i in range(len(records))]


def through_scanfolder(images: list[np.ndarray], size: int, tmp: Path, crop: str) -> list[np.ndarray]:
    """Images as a model meets them at inference: written to a folder, read by ScanFolder."""
    from ecgimg.data.images import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, ScanFolder
    tmp.mkdir(parents=True, exist_ok=True)
    for old in tmp.glob("*.png"):
        old.unlink()
    for i, im in enumerate(images):
        cv2.imwrite(str(tmp / f"{i:04d}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    ds = ScanFolder(tmp, image_size=size, **({"crop": crop} if scanfolder_crops() else {}))
    mean, std = np.asarray(IMAGENET_MEAN_RGB), np.asarray(IMAGENET_STD_RGB)
    out = []
    for i in range(len(ds)):
        chw = ds[i]["image"].numpy()
        out.append(np.clip((chw.transpose(1, 2, 0) * std + mean) * 255 + 0.5, 0, 255).astype(np.uint8))
    return out


def eik_pages(records, eik: Path, python: str, cache: Path, seed: int) -> list[np.ndarray]:
    out_dir = cache / f"eik-seed{seed}"
    todo = [r[0] for r in records if not list((out_dir / Path(r[0]).name).glob("*-0.png"))]
    if todo:
        print(f"ecg-image-kit: rendering {len(todo)} pages into {out_dir} ...", flush=True)
        subprocess.run([python, "-c", _EIK_DRIVER, str(eik), str(out_dir), str(seed), *todo], check=True,
                       stdout=subprocess.DEVNULL)
    pages = []
    for path, *_ in records:
        png = sorted((out_dir / Path(path).name).glob("*-0.png"))[0]
        pages.append(cv2.cvtColor(cv2.imread(str(png), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return pages


def at_work_size(image: np.ndarray) -> np.ndarray:
    f = WORK_SIDE_PX / max(image.shape[:2])
    return cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else image


def matched_grid(image: np.ndarray) -> np.ndarray:
    """Rescaled to MATCHED_PX_PER_MM by the measured grid period, then cut to the grid region."""
    found = scan_crop.find_grid(image)
    if found.px_per_mm:
        f = MATCHED_PX_PER_MM / found.px_per_mm
        image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        box = tuple(int(round(v * f)) for v in found.box)
        found = scan_crop.GridFinding(MATCHED_PX_PER_MM, found.score, box)
    return scan_crop.crop_to_grid(image, finding=found)


# ----------------------------------------------------------------------------- tests
def _auroc(y, s) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, s))


def feature_test(real_f: np.ndarray, gen_f: np.ndarray, seed: int, repeats: int = 5) -> np.ndarray:
    """Out-of-fold scores (mean over repeats) of a standardised logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x = np.vstack([real_f, gen_f])
    y = np.r_[np.zeros(len(real_f)), np.ones(len(gen_f))]
    scores = np.zeros(len(y))
    for r in range(repeats):
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed + r).split(x, y):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
            model.fit(x[tr], y[tr])
            scores[te] += model.decision_function(x[te]) / repeats
    return scores


def _cnn_crops(image: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    c = CNN_CROP_PX
    if min(h, w) < c:
        image = cv2.resize(image, (max(w, c), max(h, c)))
        h, w = image.shape[:2]
    ys, xs = rng.integers(0, h - c + 1, n), rng.integers(0, w - c + 1, n)
    return np.stack([image[y:y + c, x:x + c] for y, x in zip(ys, xs)])


def cnn_test(real: list[np.ndarray], gen: list[np.ndarray], seed: int, epochs: int = 4,
             crops_per_image: int = 10) -> np.ndarray:
    """Out-of-fold per-image scores of a 4-layer CNN trained on random crops (~1 CPU min)."""
    import torch
    from sklearn.model_selection import StratifiedKFold
    torch.set_num_threads(1)
    images = real + gen
    y = np.r_[np.zeros(len(real)), np.ones(len(gen))]
    rng = np.random.default_rng(seed)
    scores = np.zeros(len(y))

    def net():
        layers, ch = [], 3
        for out in (8, 16, 24, 32):
            layers += [torch.nn.Conv2d(ch, out, 3, padding=1), torch.nn.BatchNorm2d(out), torch.nn.ReLU(),
                       torch.nn.MaxPool2d(2)]
            ch = out
        return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(ch, 1))

    def batch(idx, n):
        x = np.concatenate([_cnn_crops(images[i], n, rng) for i in idx])
        return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    for fold, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=seed).split(y, y)):
        torch.manual_seed(seed + fold)
        model = net()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        for _ in range(epochs):
            x = batch(tr, crops_per_image)
            t = torch.from_numpy(np.repeat(y[tr], crops_per_image)).float()
            perm = torch.randperm(len(t))
            model.train()
            for k in range(0, len(t), 64):
                j = perm[k:k + 64]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[j]).squeeze(1), t[j])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            for i in te:
                scores[i] = float(model(batch([i], 12)).mean())
    return scores


def bootstrap(real_ours, gen_ours, real_eik, gen_eik, seed: int, n_boot: int = 2000):
    """CIs of each AUROC and the p-value of AUROC(ours) >= AUROC(eik), resampling real images and
    records jointly (both generators rendered the same records)."""
    rng = np.random.default_rng(seed)
    n_r, n_g = len(real_ours), len(gen_ours)
    a, b = np.empty(n_boot), np.empty(n_boot)
    for k in range(n_boot):
        ir, ig = rng.integers(0, n_r, n_r), rng.integers(0, n_g, n_g)
        y = np.r_[np.zeros(n_r), np.ones(n_g)]
        a[k] = _auroc(y, np.r_[real_ours[ir], gen_ours[ig]])
        b[k] = _auroc(y, np.r_[real_eik[ir], gen_eik[ig]])
    p = float((np.sum(a - b >= 0) + 1) / (n_boot + 1))
    return np.percentile(a, [2.5, 97.5]), np.percentile(b, [2.5, 97.5]), p


def contact_sheet(path: Path, columns: dict[str, list[np.ndarray]], rows: int = 6, cell=(420, 230)) -> None:
    w, h = cell
    sheet = np.full((rows * h + 30, len(columns) * w, 3), 255, np.uint8)
    for c, (name, images) in enumerate(columns.items()):
        cv2.putText(sheet, name, (c * w + 10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
        pick = np.linspace(0, len(images) - 1, rows).round().astype(int)
        for r, i in enumerate(pick):
            im = images[i]
            f = min((w - 6) / im.shape[1], (h - 6) / im.shape[0])
            small = cv2.resize(im, (max(1, int(im.shape[1] * f)), max(1, int(im.shape[0] * f))),
                               interpolation=cv2.INTER_AREA)
            y0, x0 = 30 + r * h, c * w
            sheet[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eik", type=Path, help="ecg-image-kit checkout: .../codes/ecg-image-generator")
    ap.add_argument("--eik-python", default=sys.executable, help="python of a venv with its requirements")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/render_realism"))
    ap.add_argument("--sheet", type=Path, help="write a contact sheet real | ours | ecg-image-kit here")
    ap.add_argument("--n", type=int, default=60, help="PTB-XL records (ecg_id 1..n)")
    ap.add_argument("--size", type=int, default=256, help="training-path image size S")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cnn", action="store_true")
    ap.add_argument("--label", default="", help="name printed with the results (e.g. before/after)")
    args = ap.parse_args()
    if not (SHARED / "scans").is_dir():
        sys.exit(f"real scans not found at {SHARED / 'scans'}")
    import render
    t0 = time.time()
    real = real_scans()
    records = ptbxl_records(args.n)
    sets: dict[str, dict[str, list[np.ndarray]]] = {"ours": {}, "eik": {}}
    # training path: RenderedImages views vs real scans through ScanFolder, with the same crop
    # policy on both sides ("grid" where this tree's ScanFolder can cut scans to their grid)
    crops = {"train-page": "page", **({"train-grid": "grid"} if scanfolder_crops() else {})}
    sets["ours"]["whole"] = ours_whole(records, args.seed)
    for test, crop in crops.items():
        sets["ours"][test] = ours_train(records, args.seed, args.size, crop)
    if args.eik:
        sets["eik"]["whole"] = eik_pages(records, args.eik, args.eik_python, args.cache, args.seed)
        for test, crop in crops.items():
            sets["eik"][test] = through_scanfolder(sets["eik"]["whole"], args.size, args.cache / f"tmp-{args.label}-eik", crop)
    real_sets = {"whole": real}
    for test, crop in crops.items():
        real_sets[test] = through_scanfolder(real, args.size, args.cache / f"tmp-{args.label}-real", crop)
    real_sets["grid"] = [matched_grid(im) for im in real]
    for gen in sets.values():
        if "whole" in gen:
            gen["grid"] = [matched_grid(im) for im in gen["whole"]]
    print(f"[{args.label}] renderer {render.__file__}; {len(real)} real, {args.n} records; "
          f"images ready in {time.time() - t0:.0f} s", flush=True)
    if args.sheet:
        contact_sheet(args.sheet, {"real": real, "ours (random page)": sets["ours"]["whole"],
                                   "ecg-image-kit": sets["eik"].get("whole", [])} if args.eik else
                      {"real": real, "ours (random page)": sets["ours"]["whole"]})
        contact_sheet(args.sheet.with_name(args.sheet.stem + "-grid.png"),
                      {k: v for k, v in (("real", real_sets["grid"]), ("ours", sets["ours"]["grid"]),
                                         ("ecg-image-kit", sets["eik"].get("grid", []))) if v})
    prep = {"whole": at_work_size, "grid": lambda im: im, **{t: (lambda im: im) for t in crops}}
    rows = []
    for test in ("whole", *crops, "grid"):
        real_in = [prep[test](im) for im in real_sets[test]]
        real_f = np.stack([features(im) for im in real_in])
        result = {}
        for name, gen in sets.items():
            if test not in gen:
                continue
            gen_in = [prep[test](im) for im in gen[test]]
            gen_f = np.stack([features(im) for im in gen_in])
            result[name] = {"feat": feature_test(real_f, gen_f, args.seed),
                            "cnn": None if args.no_cnn else cnn_test(real_in, gen_in, args.seed),
                            "why": giveaways(real_f, gen_f)}
        rows.append((test, result))
        print(f"  {test}: done at {time.time() - t0:.0f} s", flush=True)
    y = lambda n: np.r_[np.zeros(len(real)), np.ones(n)]  # noqa: E731
    print(f"\n[{args.label}] AUROC real vs generated (0.5 = indistinguishable; goal feature <= 0.85 "
          f"and below ecg-image-kit on every test)")
    print(f"{'test':10s} {'classifier':8s} {'ours':>7s} {'95% CI':>14s} {'eik':>7s} {'95% CI':>14s} {'p(ours>=eik)':>13s}")
    for test, result in rows:
        for kind in ("feat", "cnn"):
            if result["ours"][kind] is None:
                continue
            n = args.n
            ours = result["ours"][kind]
            a = _auroc(y(n), ours)
            line = f"{test:10s} {kind:8s} {a:7.3f}"
            if "eik" in result:
                eik = result["eik"][kind]
                b = _auroc(y(n), eik)
                ci_a, ci_b, p = bootstrap(ours[:len(real)], ours[len(real):], eik[:len(real)], eik[len(real):],
                                          args.seed)
                line += (f"   [{ci_a[0]:.3f},{ci_a[1]:.3f}] {b:7.3f}   [{ci_b[0]:.3f},{ci_b[1]:.3f}] {p:13.4f}")
            print(line)
    print("\nfeatures that give the generated images away (univariate AUROC; real / generated medians):")
    for test, result in rows:
        for name, r in result.items():
            print(f"  {test:10s} {name:4s}: {r['why']}")
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
