"""The typed schema of every experiment config (`configs/*.yaml`), one dataclass per section.

Defaults here are the small CPU-friendly values; presets in `configs/` set paper-scale values.
The `train` section is the engine's own `TrainConfig` (one definition of the training knobs);
its `out_dir` and `seed` are set by the runner to the run directory and the experiment seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ecgimg.train.config import TrainConfig


@dataclass
class DataSection:
    """Where the records come from and which labels are predicted."""

    #: "synthetic" (embedded cohort), "ptbxl:PATH" (PTB-XL root, folds 1-8/9/10),
    #: "wfdb:PATH" (folder of WFDB records, seeded patient split) or "cache:PATH" (a built SignalCache).
    source: str = "synthetic"
    #: target set in the cache: lvsd / sex / af (synthetic); diagnostic, subdiagnostic,
    #: superdiagnostic, form, rhythm, all, sex (PTB-XL).
    task: str = "lvsd"
    n_patients: int = 200            # synthetic cohort size (patients)
    ecgs_per_patient: int = 3        # synthetic ECGs per patient (recorded days apart)
    #: patient shares of the seeded split of the synthetic cohort (PTB-XL keeps its folds)
    split_fractions: dict = field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    sampling_rate_hz: int = 500      # PTB-XL files to read (500 or 100); cache is always 500 Hz
    cache_dir: str | None = None     # default: <out_dir>/cache/<source-tag>
    batch_size: int = 32             # training batch (signals or images)
    eval_batch_size: int = 64
    num_workers: int = 0             # DataLoader workers (0 = in process)


@dataclass
class ModelSection:
    """Which registered model to build and how to initialise it."""

    name: str = "ecg_vit_tiny_p250"  # registry name (see `ecgimg.models.list_models()`)
    kwargs: dict = field(default_factory=dict)  # extra constructor arguments, checked by the model
    modality: Literal["auto", "signal", "image"] = "auto"  # auto: image for image_*/timm:* names
    init: str | None = None          # weights to start from (.pt checkpoint or .safetensors); None = scratch
    linear_probe: bool = False       # freeze the encoder, train the head only


@dataclass
class ImageSection:
    """How signals become images for every image stage (pretraining, fine-tuning, evaluation)."""

    image_size: int = 128            # model input side (px)
    grayscale: bool = False
    patients_per_batch: int = 16     # contrastive batches: patients x views
    views_per_patient: int = 2
    #: page policy of training and evaluation pages (`ecgimg.data.images.PAGE_POLICIES`):
    #: "readable" = 12-lead layouts, light scan/photo effects, cut to the lead grid; "printed" =
    #: the same without scan/photo effects; "any" = every layout, style and degradation, whole
    #: page letterboxed
    pages: Literal["readable", "printed", "any"] = "readable"
    #: training pages: 0 = a fresh render per image (in DataLoader workers); K > 0 = K views per
    #: training record drawn once into a page bank (`ecgimg.data.page_bank`) shared by every stage
    bank_views: int = 0
    render_workers: int = 2          # processes that draw page banks (evaluation pages always)


@dataclass
class PretrainSection:
    """Self-supervised objective of `ecgimg pretrain`."""

    # mae / jepa / bell pretrain a signal model (registry mae_*, jepa_*, bell_* wrappers whose forward
    # returns the loss); bcl / simclr an image backbone on rendered pages
    objective: Literal["mae", "jepa", "bell", "bcl", "simclr"] = "mae"
    temperature: float = 0.1         # contrastive softmax temperature
    projection_dim: int = 128        # contrastive projection head width


@dataclass
class FinetuneSection:
    """Supervised fine-tuning: label fractions (nested, by patient) and the learning-rate sweep."""

    label_fractions: list[float] = field(default_factory=lambda: [1.0])
    lrs: list[float] = field(default_factory=lambda: [1e-4])  # one run per LR, best by monitor
    fraction_seed: int = 0
    #: tile tiny labelled subsets so an epoch has at least this many batches (0 = off); the engine
    #: validates once per epoch, and 1-batch epochs would mostly validate.
    min_epoch_batches: int = 0
    #: cap on passes over each labelled subset (None = train.max_steps / train.epochs only): small
    #: label fractions then cost what they need, not the full set's budget
    max_epochs: float | None = None
    pretraining: str | None = None   # label for reports ("mae", "bcl", ...); default from init


@dataclass
class EvalSection:
    """How predictions are scored."""

    split: str = "test"
    n_boot: int = 1000               # patient-bootstrap resamples for 95% CIs
    specificity: float = 0.9         # for sensitivity at fixed specificity


@dataclass
class DemoSection:
    """`ecgimg demo`: its stages are ordinary pretrain / finetune runs built from the sections of
    this config plus each stage's own overrides (see configs/demo.yaml)."""

    #: stage name -> {"run": "pretrain" | "finetune", <section>: {<overrides>}, ...}; a stage with
    #: `model: {init: "@other"}` starts from stage `other`'s exported encoder and waits for it
    stages: dict = field(default_factory=dict)
    skip: list[str] = field(default_factory=list)  # stages left out (and the stages needing them)
    parallel: int = 2                # stages run at once, each in its own process
    reference: str = "cnn_scratch"   # arm every p-value of the main table compares against
    reference_reason: str = ("the MAE paper's supervised CNN baseline (Attia et al. 2019 "
                             "architecture) trained on all labels, the bar a pretrained model "
                             "has to clear.")
    #: (model, baseline) pairs compared at every label fraction (pretraining vs its scratch twin)
    contrasts: list[list[str]] = field(default_factory=list)
    gallery_images: int = 12         # pages on the contact sheet (0 = none)


@dataclass
class ExperimentConfig:
    """One experiment: run directory = <out_dir>/<name>."""

    name: str = "run"
    out_dir: str = "runs"
    seed: int = 0
    #: torch intra-op threads (0 = torch's default). 1 is best on small or shared CPUs: the
    #: model runs on one core while DataLoader workers render pages on the others.
    torch_threads: int = 0
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    image: ImageSection = field(default_factory=ImageSection)
    pretrain: PretrainSection = field(default_factory=PretrainSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalSection = field(default_factory=EvalSection)
    demo: DemoSection = field(default_factory=DemoSection)


#: Command-line shorthands: `data=ptbxl:PATH` means `data.source=ptbxl:PATH`.
ALIASES = {"data": "data.source", "model": "model.name", "task": "data.task", "out": "out_dir"}


#: objectives that pretrain a signal model whose forward returns its own loss
SIGNAL_OBJECTIVES = ("mae", "jepa", "bell")


def modality_of(model: ModelSection) -> str:
    """'image' for image backbones (registry `image_*` or `timm:*`), else 'signal'."""
    if model.modality != "auto":
        return model.modality
    return "image" if model.name.startswith(("image_", "timm:")) else "signal"
