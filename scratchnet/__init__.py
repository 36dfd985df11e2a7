"""scratchnet: a from-scratch NumPy CNN library that mirrors Keras 3."""
