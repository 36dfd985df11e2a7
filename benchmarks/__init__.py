"""The speed and memory comparison of scratchnet against Keras 3 + TensorFlow (issue 5).

Run ``python -m benchmarks.run`` (or ``--quick``); ``benchmarks/run.py`` explains what is measured
and how. This package imports neither library at import time: each measurement imports what it
needs, so the subprocess rows (memory, JIT cost, threads) start from a clean interpreter.
"""
