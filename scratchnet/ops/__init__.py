"""Pure functions with no state: the math of each op, as a NumPy reference twin and a numba kernel."""
