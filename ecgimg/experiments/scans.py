"""`ecgimg predict`: a fine-tuned image model on a folder of real scans / photos → CSV.

The model is named by its fine-tuning run directory (its `config.yaml` gives architecture and
input size, its predictions sidecar the class names and best checkpoint), or explicitly by
`--model NAME --weights PATH --classes a,b`. Prediction itself is `ecgimg.predict.predict_folder`.
"""
from __future__ import annotations

import json
from pathlib import Path


def model_from_run(run: str | Path, fraction: float | None = None):
    """(model with its best weights, class names, image size, grayscale, scan crop) of a finetune
    run; the crop follows the run's page policy, so scans are cut as its training pages were."""
    from ecgimg.config import load_config
    from ecgimg.data.images import PAGE_POLICIES
    from ecgimg.experiments.models import build_classifier
    from ecgimg.experiments.schema import ExperimentConfig, modality_of
    from ecgimg.weights import load_weights

    run = Path(run)
    cfg = load_config(ExperimentConfig, run / "config.yaml")
    if modality_of(cfg.model) != "image":
        raise ValueError(f"{run}: model {cfg.model.name!r} is a signal model; predict needs an "
                         "image model")
    sidecars = sorted((run / "predictions").glob("*.json"))
    metas = [json.loads(p.read_text()) for p in sidecars]
    if fraction is not None:
        metas = [m for m in metas if float(m.get("label_fraction") or 1.0) == fraction]
    if not metas:
        raise FileNotFoundError(f"{run}: no fine-tuned model found (predictions/*.json)"
                                + (f" at label fraction {fraction:g}" if fraction is not None else ""))
    meta = max(metas, key=lambda m: float(m.get("label_fraction") or 1.0))
    cfg.model.init = None  # the whole classifier comes from the checkpoint below
    model = build_classifier(cfg, len(meta["class_names"]))
    load_weights(model, meta["checkpoint"])
    crop = PAGE_POLICIES[cfg.image.pages].get("crop", "page")
    return model, list(meta["class_names"]), cfg.image.image_size, cfg.image.grayscale, crop


def model_from_weights(name: str, weights: str | Path, classes: list[str], image_size: int | None):
    from ecgimg.models import create_model
    from ecgimg.weights import load_weights

    kwargs = {"num_classes": len(classes)}
    if image_size:
        kwargs["input_size"] = image_size
    model = create_model(name, **kwargs)
    load_weights(model, weights)
    return model, classes, image_size, None, "grid"


def run_predict(folder: str | Path, out_csv: str | Path, run: str | None = None,
                fraction: float | None = None, model: str | None = None,
                weights: str | None = None, classes: list[str] | None = None,
                image_size: int | None = None, batch_size: int = 16, head: str | None = None):
    from ecgimg.predict import predict_folder

    if run is not None:
        net, names, size, grayscale, crop = model_from_run(run, fraction)
    elif model and weights and classes:
        net, names, size, grayscale, crop = model_from_weights(model, weights, classes, image_size)
    else:
        raise ValueError("name the model: --run RUN_DIR, or --model NAME --weights PATH --classes a,b")
    return predict_folder(net, folder, out_csv, image_size=image_size or size, grayscale=grayscale,
                          class_names=names, batch_size=batch_size, head=head, crop=crop)
