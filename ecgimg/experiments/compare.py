"""`ecgimg compare`: the comparison report from saved predictions of several runs (no retraining).

Inputs are prediction CSVs (with their JSON sidecars) or run directories searched recursively.
Validation predictions (in a `val/` folder beside the test ones, same file name) are paired up
automatically so thresholds can be chosen on validation. Known figures found in the inputs (MAE
reconstruction, contact sheet of rendered pages) are copied into the report.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

VAL_DIR = "val"
#: figure file name pattern → caption in the report
KNOWN_FIGURES = {
    "contact_sheet.png": "Rendered training images (contact sheet)",
    "mae_reconstruction_leads.png": "MAE reconstruction: original, masked, reconstructed (II, V5)",
    "mae_reconstruction_all.png": "MAE reconstruction: all 12 leads",
}


def find_prediction_files(inputs: Sequence[str | Path]) -> list[Path]:
    """Test-prediction CSVs named by `inputs` (files, or directories searched recursively)."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_file():
            candidates = [item]
        elif item.is_dir():
            candidates = sorted(item.rglob("*.csv"))
        else:
            raise FileNotFoundError(f"{item}: no such predictions file or run directory")
        for path in candidates:
            if path.parent.name == VAL_DIR or not path.with_suffix(".json").is_file():
                continue
            if path not in found:
                found.append(path)
    if not found:
        raise FileNotFoundError(f"no prediction files (CSV + JSON sidecar) under {list(map(str, inputs))}")
    return found


def find_figures(inputs: Sequence[str | Path]) -> dict[str, Path]:
    figures: dict[str, Path] = {}
    for item in map(Path, inputs):
        if not item.is_dir():
            continue
        for pattern, caption in KNOWN_FIGURES.items():
            for path in sorted(item.rglob(pattern)):
                if "report" not in path.parts[len(item.parts):]:
                    figures.setdefault(caption, path)
    return figures


def model_results(files: Sequence[Path]):
    """ModelResult per file, identity taken from the sidecar; ordered by model then fraction."""
    from ecgimg.evaluate.comparison import ModelResult

    results = []
    for path in files:
        meta = json.loads(path.with_suffix(".json").read_text())
        fraction = meta.get("label_fraction")
        val = path.parent / VAL_DIR / path.name
        results.append(ModelResult(
            name=str(meta.get("model") or path.stem), modality=str(meta.get("modality") or "?"),
            pretraining=str(meta.get("pretraining") or "none"),
            label_fraction=1.0 if fraction is None else float(fraction), predictions=path,
            val_predictions=val if val.is_file() and val.with_suffix(".json").is_file() else None))
    first_seen = {}
    for r in results:
        first_seen.setdefault(r.name, len(first_seen))
    return sorted(results, key=lambda r: (first_seen[r.name], r.label_fraction))


def run_compare(inputs: Sequence[str | Path], out: str | Path, reference: str | None = None,
                n_boot: int = 1000, seed: int = 0, title: str = "ecgimg comparison",
                figures: Mapping[str, str | Path] | None = None, notes: Sequence[str] = (),
                specificity: float = 0.9, contrasts: Sequence[tuple[str, str]] = (),
                intro: Sequence[str] = ()) -> Path:
    """Write `<out>/report.md` (+ CSV tables and figures) and return its path."""
    from ecgimg.evaluate.report import write_report

    results = model_results(find_prediction_files(inputs))
    all_figures = {**find_figures(inputs), **(figures or {})}
    with_val = all(r.val_predictions is not None for r in results)
    files = write_report(out, results, figures=all_figures, reference=reference, title=title,
                         n_boot=n_boot, seed=seed,
                         threshold_rule="specificity" if with_val else None,
                         threshold_target=specificity, notes=notes, contrasts=contrasts,
                         intro=intro)
    return files.report_md
