"""Datasets, mirroring keras.datasets."""
