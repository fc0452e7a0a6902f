"""ecgimg: deep learning on electrocardiograms as images and as signals."""
__version__ = "0.1.0"
