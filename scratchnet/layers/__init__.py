"""Layers, mirroring keras.layers."""
