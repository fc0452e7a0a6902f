"""ecgimg.train — the one training engine (objective-agnostic loop, AMP, DDP, checkpoints, sweeps)."""
from ecgimg.train.checkpoint import atomic_torch_save, export_safetensors
from ecgimg.weights import CheckpointError, load_checkpoint, load_weights, unwrap_model
from ecgimg.train.config import TrainConfig
from ecgimg.train.engine import FitResult, NonFiniteLossError, fit, seed_everything
from ecgimg.train.loaders import derive_seed, make_loader, seed_worker
from ecgimg.train.objectives import input_loss, loss_dict, model_loss, supervised_bce, supervised_cross_entropy
from ecgimg.train.predict import evaluate_loss, predict
from ecgimg.train.schedule import build_scheduler, warmup_cosine_factor, warmup_cosine_lr
from ecgimg.train.sweep import SweepResult, lr_sweep

__all__ = [
    "CheckpointError", "FitResult", "NonFiniteLossError", "SweepResult", "TrainConfig",
    "atomic_torch_save", "build_scheduler", "derive_seed", "evaluate_loss", "export_safetensors", "fit",
    "input_loss", "load_checkpoint", "load_weights", "loss_dict", "lr_sweep", "make_loader", "model_loss",
    "predict", "seed_everything", "seed_worker", "supervised_bce", "supervised_cross_entropy",
    "unwrap_model", "warmup_cosine_factor", "warmup_cosine_lr",
]
