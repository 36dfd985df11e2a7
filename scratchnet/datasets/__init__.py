"""Datasets, mirroring ``keras.datasets``."""

from . import mnist

__all__ = ["mnist"]
