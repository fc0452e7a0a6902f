"""Model registry and model families (signal ViT/MAE/CNN, image CNNs)."""
from ecgimg.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
