"""Signal-domain models: ECG ViT over 1x250 patches, its MAE, the ViT classifier, the CNN baseline.

Importing this package registers ``ecg_vit_{size}_p250``, ``mae_ecg_vit_{size}_p250`` and
``ecg_cnn_baseline`` (size in tiny, small, base, large, huge); the self-supervised wrappers in
``jepa.py`` and ``bell.py`` register ``jepa_*`` and ``bell_*`` when imported (``ecgimg.models.zoo``
imports them).
"""
from ecgimg.models.signal.classifier import ECGViTClassifier, LoadReport, load_encoder_checkpoint
from ecgimg.models.signal.cnn import ECGCNNBaseline
from ecgimg.models.signal.mae import MaskedAutoencoderECG, patchify, random_masking, unpatchify
from ecgimg.models.signal.normalization import SignalNormalization
from ecgimg.models.signal.vit import VIT_SIZES, ECGViT

__all__ = [
    "ECGCNNBaseline", "ECGViT", "ECGViTClassifier", "LoadReport", "MaskedAutoencoderECG",
    "SignalNormalization", "VIT_SIZES", "load_encoder_checkpoint",
    "patchify", "random_masking", "unpatchify",
]
