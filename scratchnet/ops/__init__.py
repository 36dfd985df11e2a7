"""Pure functions with no state: the math of each op, a NumPy twin and a numba kernel each."""
