"""Parity tests: scratchnet against Keras 3, layer by layer and step by step (see README.md)."""
