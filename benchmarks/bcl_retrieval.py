"""Same-patient retrieval after BCL vs SimCLR pretraining vs random init, on the synthetic cohort (CPU).

Protocol: synthetic cohort split by patient. Each training ECG is rendered K times with
independently drawn random layouts/styles/degradations (a fixed pool, so the CPU budget goes to the
model rather than re-rendering every step); by default pages follow
`ecgimg.data.images.PAGE_POLICIES["readable"]` (readable landscape layouts, light scan/photo effects, no
photocopy thresholding, cut to the lead grid and stretched), greyscale. A small CNN (timm resnet10t,
128 px) is pretrained
with the engine (`ecgimg.train.fit`) on BCL (two *different* ECGs of a patient, different renders)
or SimCLR (two different renders of one ECG). Evaluation on held-out patients: every ECG is rendered
twice (views A and B, independent specs whose layouts come from disjoint halves of the
policy's layouts, so the two never share a layout); for each query (view A of ECG i) the gallery is view B of
every *other* held-out ECG; top-1 is correct when the nearest gallery ECG is from the same patient.
Chance = (ECGs per patient - 1) / (held-out ECGs - 1). Top-5 and mean reciprocal rank are printed too.

    .venv/bin/python benchmarks/bcl_retrieval.py [--steps 200] [--patients 150] [--out /tmp/ecgimg_bcl]

Writes encoder weights to --out (reused by benchmarks/label_efficiency_images.py) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

torch.set_num_threads(1)

from ecgimg.data import synthetic_cohort  # noqa: E402
from ecgimg.data.images import PAGE_POLICIES, RenderedImages  # noqa: E402
from ecgimg.data.pairs import PatientViewSampler, ViewLoader  # noqa: E402
from ecgimg.models.image import timm_model  # noqa: E402
from ecgimg.ssl.bcl import BCLObjective  # noqa: E402
from ecgimg.ssl.simclr import SimCLRObjective  # noqa: E402
from render.layout import LAYOUT_PRESETS  # noqa: E402

BACKBONE = "resnet10t"


class PoolViews(Dataset):
    """Pre-rendered pool [N, K, C, H, W] (normalised float16) addressed by (position, view, epoch)
    keys from PatientViewSampler: view v of epoch e uses slot (v + e) % K, so the two views of one
    ECG (SimCLR) are always different renders."""

    def __init__(self, pool: torch.Tensor, patient: np.ndarray):
        self.pool, self.patient = pool, patient

    def __len__(self) -> int:
        return len(self.pool)

    def __getitem__(self, key):
        position, view, epoch = key
        slot = (view + epoch) % self.pool.shape[1]
        return {"image": self.pool[position, slot].float(), "index": position,
                "patient": int(self.patient[position]), "view": view}


def render_pool(records, positions, n_views: int, image_size: int, seed: int, policy="random",
                page_kwargs: dict | None = None, grayscale: bool = False) -> torch.Tensor:
    """[len(positions), n_views, C, S, S] float16 renders, each view an independent random spec."""
    ds = RenderedImages(records, seed=seed, image_size=image_size, policy=policy, grayscale=grayscale,
                        **(page_kwargs or {}))
    out = torch.empty(len(positions), n_views, 1 if grayscale else 3, image_size, image_size, dtype=torch.float16)
    for i, pos in enumerate(positions):
        for v in range(n_views):
            out[i, v] = ds[(int(pos), v, 0)]["image"].half()
    return out


def split_layouts(policy, page_kwargs: dict | None) -> tuple[dict, dict]:
    """Page kwargs for held-out views A and B drawing from disjoint halves of the policy's layouts,
    so a query and its same-patient target never share a layout (a fixed page keeps its one)."""
    page_kwargs = dict(page_kwargs or {})
    if policy != "random":
        return page_kwargs, page_kwargs
    layouts = sorted(page_kwargs.get("spec_kwargs", {}).get("layouts") or LAYOUT_PRESETS)
    halves = layouts[0::2], layouts[1::2]
    if not halves[1]:
        raise ValueError(f"layouts {layouts}: two views in different layouts need at least two")
    return tuple({**page_kwargs, "spec_kwargs": {**page_kwargs.get("spec_kwargs", {}), "layouts": tuple(h)}}
                 for h in halves)


def data_settings(**settings) -> dict:
    """What a cached data.pt was built from: the arguments plus the cohort and renderer versions."""
    from ecgimg.data.page_bank import renderer_fingerprint
    from ecgimg.data.synthetic import COHORT_VERSION
    return json.loads(json.dumps({**settings, "cohort_version": COHORT_VERSION,
                                  "renderer": renderer_fingerprint()}, default=repr))


def build_data(n_patients: int, ecgs_per_patient: int, held_out_fraction: float, image_size: int,
               n_views: int, seed: int, cache: Path | None = None, policy="random",
               page_kwargs: dict | None = None, grayscale: bool = False) -> dict:
    """Cohort, patient split, training pool and held-out A/B renders (cached to disk when asked;
    a cache built with other settings, cohort or renderer is rebuilt, not reused)."""
    settings = data_settings(n_patients=n_patients, ecgs_per_patient=ecgs_per_patient,
                             held_out_fraction=held_out_fraction, image_size=image_size,
                             n_views=n_views, seed=seed, policy=policy, page_kwargs=page_kwargs,
                             grayscale=grayscale)
    if cache is not None and cache.is_file():
        data = torch.load(cache, weights_only=False)
        if data.get("settings") == settings:
            return data
        changed = sorted(k for k in settings if data.get("settings", {}).get(k) != settings[k])
        print(f"{cache}: built with other settings ({', '.join(changed)}); rebuilding")
    records = synthetic_cohort(n_patients, ecgs_per_patient, seed=seed)
    patients = np.array([r.patient_id for r in records])
    uniq = np.unique(patients)
    held = set(np.random.default_rng(seed).permutation(uniq)[: int(len(uniq) * held_out_fraction)])
    test_pos = np.array([i for i, p in enumerate(patients) if p in held])
    train_pos = np.array([i for i, p in enumerate(patients) if p not in held])
    t0 = time.perf_counter()
    data = {
        "train_pos": train_pos, "test_pos": test_pos, "patients": patients,
        "labels": {k: np.array([r.labels[k] for r in records], np.float32) for k in ("lvsd", "sex", "af")},
        "train_pool": render_pool(records, train_pos, n_views, image_size, seed, policy, page_kwargs, grayscale),
        "test_pool": torch.cat([render_pool(records, test_pos, 1, image_size, seed + 1 + v, policy, kwargs,
                                            grayscale) for v, kwargs in
                                enumerate(split_layouts(policy, page_kwargs))], dim=1),
        "settings": settings,
    }
    n_renders = len(train_pos) * n_views + len(test_pos) * 2
    data["render_s_per_image"] = (time.perf_counter() - t0) / n_renders
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(data, cache)
    return data


def new_encoder(seed: int, backbone: str = BACKBONE, in_chans: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm_model(backbone, proj_dim=128, proj_hidden=256, in_chans=in_chans)


def pretrain(method: str, data: dict, steps: int, patients_per_batch: int, lr: float, seed: int,
             out_dir: Path, temperature: float = 0.1, backbone: str = BACKBONE,
             views_per_patient: int = 2) -> torch.nn.Module:
    """BCL or SimCLR pretraining through the project engine; returns the trained encoder."""
    from ecgimg.train import fit
    from ecgimg.train.config import TrainConfig
    codes = np.unique(data["patients"], return_inverse=True)[1]
    train_patient = codes[data["train_pos"]]
    dataset = PoolViews(data["train_pool"], train_patient)
    if method == "bcl":
        ids, policy, objective = train_patient, "skip", BCLObjective(temperature=temperature)
    else:
        ids, policy, objective = np.arange(len(train_patient)), "repeat", SimCLRObjective(temperature=temperature)
    if method != "bcl":  # SimCLR: 2 renders per ECG, as many images per batch as BCL
        patients_per_batch, views_per_patient = max(2, patients_per_batch * views_per_patient // 2), 2
    sampler = PatientViewSampler(ids, patients_per_batch=patients_per_batch, views_per_patient=views_per_patient,
                                 seed=seed, single_ecg_policy=policy)
    loader = ViewLoader(dataset, sampler)
    epochs = max(1, -(-steps // len(sampler)))
    model = new_encoder(seed, backbone, in_chans=data["train_pool"].shape[2])
    config = TrainConfig(epochs=epochs, max_steps=steps, lr=lr, weight_decay=1e-4, warmup_steps=steps // 10,
                         seed=seed, out_dir=str(out_dir / f"run_{method}"), progress=False,
                         log_every=max(1, steps // 10), monitor="train_loss", save_every_epochs=10_000)
    fit(model, loader, None, config, objective=objective)
    return model.eval()


@torch.no_grad()
def embed(model: torch.nn.Module, images: torch.Tensor, head: str, batch: int = 64) -> torch.Tensor:
    model.eval()
    outs = [model(images[i:i + batch].float(), head=head) for i in range(0, len(images), batch)]
    return torch.nn.functional.normalize(torch.cat(outs), dim=1)


def retrieval_scores(model: torch.nn.Module, data: dict, head: str) -> dict[str, float]:
    """Query view A of each held-out ECG against view B of every other held-out ECG: top-1, top-5
    (a same-patient ECG among the 5 nearest) and mean reciprocal rank of the first same-patient hit."""
    pool = data["test_pool"]
    a, b = embed(model, pool[:, 0], head), embed(model, pool[:, 1], head)
    sim = a @ b.T
    sim.fill_diagonal_(float("-inf"))  # the query's own ECG is not in its gallery
    patients = data["patients"][data["test_pos"]]
    order = sim.argsort(dim=1, descending=True)[:, :-1].numpy()  # drop the query's own ECG (last)
    hits = patients[order] == patients[:, None]
    first = hits.argmax(axis=1)
    return {"top1": float(hits[:, 0].mean()), "top5": float(hits[:, :5].any(axis=1).mean()),
            "mrr": float((1.0 / (first + 1)).mean()), "hits": hits[:, 0].astype(int).tolist()}


def patient_bootstrap_hits(hits: dict[str, np.ndarray], patients: np.ndarray, n_boot: int = 2000,
                           seed: int = 0) -> dict:
    """95% CIs of each model's top-1 and of every pairwise difference, resampling held-out patients
    (a patient's queries move together), with a two-sided paired bootstrap p-value per difference."""
    from ecgimg.evaluate.stats import paired_bootstrap_p_value, percentile_ci
    codes = np.unique(patients, return_inverse=True)[1]
    n = codes.max() + 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    weights = np.stack([np.bincount(d, minlength=n) for d in draws])[:, codes]  # [B, queries]
    reps = {k: (weights * h).sum(1) / weights.sum(1) for k, h in hits.items()}
    out = {"ci": {k: percentile_ci(r) for k, r in reps.items()}, "differences": {}}
    names = list(hits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            diff = reps[a] - reps[b]
            out["differences"][f"{a} - {b}"] = {
                "delta": float(np.mean(hits[a]) - np.mean(hits[b])), "ci": percentile_ci(diff),
                "p": paired_bootstrap_p_value(diff)}
    return out


def retrieval_top1(model: torch.nn.Module, data: dict, head: str) -> float:
    return retrieval_scores(model, data, head)["top1"]


def read_settings(out_dir: Path) -> dict:
    """The arguments of the run that wrote `out_dir` (empty for runs before settings were saved)."""
    path = Path(out_dir) / "retrieval.json"
    return json.loads(path.read_text()).get("settings", {}) if path.is_file() else {}


def scan_neighbours(models: dict, folder: Path, image_size: int) -> None:
    """Embed the real scans with each encoder and print every scan's nearest neighbour (cosine)."""
    from ecgimg.predict import predict_folder
    for name, model in models.items():
        table = predict_folder(model, folder, image_size=image_size, head="features", recursive=False)
        raw = torch.tensor(table.filter(like="emb_").to_numpy(np.float32))
        # centred: pooled ReLU features share a large common component that hides the structure
        emb = torch.nn.functional.normalize(raw - raw.mean(dim=0), dim=1)
        sim = emb @ emb.T
        sim.fill_diagonal_(-2.0)
        best = sim.max(dim=1)
        off = sim[~torch.eye(len(sim), dtype=torch.bool)]
        pairs = [f"{table['file'][i][:8]}->{table['file'][int(j)][:8]} {float(v):.2f}"
                 for i, (v, j) in enumerate(zip(best.values, best.indices))]
        print(f"\n{name}: {len(table)} scans, errors {int((table['error'] != '').sum())}; "
              f"centred cosine: mean off-diagonal {float(off.mean()):.3f}, mean NN cosine {float(best.values.mean()):.3f}")
        print("  " + "; ".join(pairs))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=150)
    ap.add_argument("--ecgs-per-patient", type=int, default=3)
    ap.add_argument("--held-out", type=float, default=1 / 3)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--views", type=int, default=3, help="renders per training ECG in the pool")
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--patients-per-batch", type=int, default=11)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--views-per-patient", type=int, default=3,
                    help="BCL views per patient in a batch: different ECGs of the patient, all positives of each other")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/ecgimg_bcl"))
    ap.add_argument("--fixed-page", action="store_true",
                    help="diagnostic: every ECG on the same clean 3x4+1R page (no layout/style change), "
                         "so only the biometric signal differs; SimCLR is trivial there and skipped")
    ap.add_argument("--clean", action="store_true",
                    help="random layouts and paper styles but no scanner/photo degradations")
    ap.add_argument("--pages", choices=("pretrain", "random"), default="pretrain",
                    help="pretrain: ecgimg.data.images.PAGE_POLICIES['readable'] (readable landscape layouts, light "
                         "effects, no photocopy thresholding, cut to the lead grid); random: whole "
                         "letterboxed pages from render.random_spec with every degradation")
    ap.add_argument("--grayscale", action=argparse.BooleanOptionalAction, default=True,
                    help="1-channel input (default; --no-grayscale for RGB)")
    ap.add_argument("--layouts", default=None, help="comma-separated layout presets (default: the page policy's)")
    ap.add_argument("--backbone", default=BACKBONE, help="timm name")
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--methods", default="bcl,simclr")
    ap.add_argument("--scans", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/scans",
                    help="folder of real scans to embed (nearest neighbours printed); skipped if absent")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    policy = {"layout": "3x4+1R", "style": "classic", "degrade": None} if args.fixed_page else "random"
    page_kwargs = dict(PAGE_POLICIES["readable"]) if args.pages == "pretrain" else {}
    if args.fixed_page:
        args.views, args.methods, page_kwargs = 1, "bcl", {}
    if args.layouts:
        page_kwargs["spec_kwargs"] = {**page_kwargs.get("spec_kwargs", {}), "layouts": tuple(args.layouts.split(","))}
    if args.clean:
        page_kwargs["spec_kwargs"] = {**page_kwargs.get("spec_kwargs", {}), "degrade_strength": None}
    data = build_data(args.patients, args.ecgs_per_patient, args.held_out, args.image_size, args.views,
                      args.seed, cache=args.out / "data.pt", policy=policy, page_kwargs=page_kwargs,
                      grayscale=args.grayscale)
    print(f"data: {len(data['train_pos'])} train ECGs x {args.views} renders, {len(data['test_pos'])} "
          f"held-out ECGs x 2; {data['render_s_per_image'] * 1000:.0f} ms/render ({time.perf_counter() - t0:.0f} s)")
    n_test = len(data["test_pos"])
    chance = (args.ecgs_per_patient - 1) / (n_test - 1)
    results = {"chance": chance, "settings": {k: str(v) if isinstance(v, Path) else v
                                               for k, v in vars(args).items()}}
    models = {"random init": new_encoder(args.seed, args.backbone, data["train_pool"].shape[2]).eval()}
    for method in filter(None, args.methods.split(",")):
        t1 = time.perf_counter()
        models[method] = pretrain(method, data, args.steps, args.patients_per_batch, args.lr, args.seed, args.out,
                                  temperature=args.temperature, backbone=args.backbone,
                                  views_per_patient=args.views_per_patient)
        torch.save(models[method].state_dict(), args.out / f"{method}.pt")
        print(f"{method}: {args.steps} steps in {time.perf_counter() - t1:.0f} s")
    torch.save(models["random init"].state_dict(), args.out / "random.pt")
    print(f"\nsame-patient retrieval top-1 on {n_test} held-out ECGs "
          f"({n_test // args.ecgs_per_patient} patients), different ECG + different render; chance {chance:.3f}")
    print(f"chance top-5 ~{1 - (1 - chance) ** 5:.3f}; top1/top5/MRR per head")
    print(f"{'init':12s} {'features':>20s} {'projection':>20s}")
    for name, model in models.items():
        row = {head: retrieval_scores(model, data, head) for head in ("features", "projection")}
        results[name] = row
        print(f"{name:12s} " + " ".join("{top1:6.3f} {top5:6.3f} {mrr:6.3f}".format(**row[h]) for h in row))
    held_patients = data["patients"][data["test_pos"]]
    for head in ("features", "projection"):
        stats = patient_bootstrap_hits({n: np.array(results[n][head]["hits"]) for n in models},
                                       held_patients, seed=args.seed)
        results[f"bootstrap_{head}"] = stats
        print(f"\n{head}: top-1 with 95% CI by patient (2000 resamples, seed {args.seed})")
        for name, (lo, hi) in stats["ci"].items():
            print(f"  {name:12s} {np.mean(results[name][head]['hits']):.3f} [{lo:.3f}, {hi:.3f}]")
        for pair, d in stats["differences"].items():
            print(f"  {pair:24s} {d['delta']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] p = {d['p']:.3f}")
    (args.out / "retrieval.json").write_text(json.dumps(results, indent=2))
    if args.scans.is_dir():
        scan_neighbours(models, args.scans, args.image_size)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return results


if __name__ == "__main__":
    main()
