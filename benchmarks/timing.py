"""Clocks: training throughput from ``fit`` epochs, inference throughput, latency, matmul peak.

Everything here works on a scratchnet model and a Keras model alike, through the API they share
(``fit``, ``predict``, ``model(x)``, ``callbacks.Callback``).

Example:
    >>> import numpy as np
    >>> seconds = median_seconds(lambda: np.zeros(10), repeats=3)
    >>> seconds >= 0
    True
"""

import statistics
import time

import numpy as np

from examples.common import epoch_timer


def fit_epoch_seconds(model, lib, x, y, batch_size, epochs=1):
    """Wall seconds of each epoch of ``model.fit(x, y, ...)``, without shuffling or validation.

    The clock (the examples' epoch timer) runs from ``on_epoch_begin`` to ``on_epoch_end``, which
    both libraries call after the epoch's last step, so it covers every training step and nothing
    of ``fit``'s set-up.
    """
    clock = epoch_timer(lib)
    model.fit(
        x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=False, callbacks=[clock]
    )
    return clock.seconds


def interleaved(runs, repeats, warmup=1):
    """Run every callable in ``runs`` (name -> fn returning seconds) ``warmup + repeats`` times.

    The callables take turns, and the order flips every round, so a burst of load on the machine
    falls on both sides alike. Warm-up rounds are discarded.

    Returns:
        ``{name: [seconds of each measured round]}``.
    """
    names = list(runs)
    seconds = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            elapsed = runs[name]()
            if round_index >= warmup:
                seconds[name].append(elapsed)
    return seconds


def median_seconds(fn, repeats, warmup=1):
    """Median wall seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_block(fn, calls):
    """``() -> [seconds, ...]``: ``calls`` timed calls of ``fn`` one after another, for
    ``interleaved`` (each round is then a block of calls)."""

    def run():
        seconds = []
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
        return seconds

    return run


def timed(fn):
    """``() -> seconds``: one timed call of ``fn``, for ``interleaved``."""

    def run():
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def matmul_peak_gflops(n=2048, repeats=5):
    """The machine's float32 matmul rate in GFLOP/s: NumPy's BLAS on (n, n) @ (n, n), best of a few.

    Math:
        2 * n^3 FLOPs per product; best time, since noise only ever slows a run down.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)  # (n, n)
    b = rng.standard_normal((n, n), dtype=np.float32)  # (n, n)
    a @ b  # warm-up: BLAS thread pool start-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9
