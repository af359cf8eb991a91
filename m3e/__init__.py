"""M3E-VSC: generative multi-modal mutual-enhancement video semantic communication."""

__version__ = "0.1.0"
