"""Model registry and model families (signal ViT/MAE/JEPA/BELL/CNN, image CNNs)."""
from ecgimg.models.registry import register_model
from ecgimg.models.zoo import create_model, list_models

__all__ = ["create_model", "list_models", "register_model"]
