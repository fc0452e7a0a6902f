"""Standalone printed-ECG renderer: plain signal array -> realistic page image + exact ground truth.

Depends on numpy, OpenCV, Pillow (and albumentations through degradations) only; never on
`ecgimg` or torch. Entry points: `render()`, `random_spec()`, `export_vector()`; truth exports in `render.export`.
The dataset-driven batch driver (`ecg-render`) lives in `ecgimg.pages`, beside the readers.
"""
from .layout import LAYOUT_PRESETS, LayoutSpec, get_layout
from .page import Rendered, RenderInputError, render
from .paper import STYLE_PRESETS, PaperStyle, get_style
from .sampling import random_spec

__all__ = ["render", "Rendered", "RenderInputError", "LayoutSpec", "PaperStyle", "LAYOUT_PRESETS",
           "STYLE_PRESETS", "get_layout", "get_style", "random_spec", "export_vector",
           "DegradeSpec", "DEGRADE_PRESETS"]


def __getattr__(name):
    # Lazy: degradations pull albumentations; vector export pulls ecg-plot/matplotlib.
    if name in ("DegradeSpec", "DEGRADE_PRESETS", "random_degrade_spec", "apply_degradations"):
        from . import degrade
        return getattr(degrade, name)
    if name == "export_vector":
        from .vector import export_vector
        return export_vector
    raise AttributeError(f"module 'render' has no attribute {name!r}")
