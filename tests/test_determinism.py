"""The same seed gives the same results: across processes, thread counts and kernel families.

Each run is ``tests/determinism_worker.py`` in a fresh process: ``set_random_seed(seed)``, the
kernel family and the thread count, then a small CNN (Conv2D, BatchNormalization,
MaxPooling2D, Dropout, Dense) trained for 12 steps of ``fit``. What holds (README,
"Reliability", "Determinism"):

* bit for bit: two processes with the same seed, family and thread count; the NumPy twins on 1
  or 2 threads; the initial weights and the Dropout masks in every configuration (they come from
  Python's ``random`` and Philox, not from the kernels); the numba kernels' inference and
  training on 1 or 2 threads (the kernels cut their work into pieces counted for
  ``parallel.CUT_PIECES`` threads, never by the thread count, and OpenBLAS's Haswell kernels
  round a row of a product differently when the product has another number of rows);
* close, not bit for bit: the numba kernels vs the NumPy twins (other summation orders
  everywhere). The test measures that difference and bounds it.
"""

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).with_name("determinism_worker.py")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``run(family, threads, seed=7, env_threads=2, blas_kernels=None)``: the worker's saved
    arrays (cached). ``blas_kernels`` picks OpenBLAS's kernel family (``OPENBLAS_CORETYPE``)."""
    cache = {}
    folder = tmp_path_factory.mktemp("determinism")

    def go(family, threads, seed=7, env_threads=2, again=0, blas_kernels=None):
        key = (family, threads, seed, env_threads, again, blas_kernels)
        if key not in cache:
            out = folder / f"{family}-{threads}-{seed}-{env_threads}-{again}-{blas_kernels}.npz"
            env = {
                **os.environ,
                "NUMBA_NUM_THREADS": str(env_threads),
                "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            }
            if blas_kernels:
                env["OPENBLAS_CORETYPE"] = blas_kernels
            done = subprocess.run(
                [sys.executable, str(WORKER), family, str(threads), str(seed), str(out)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            with np.load(out) as saved:
                cache[key] = dict(saved)
        return cache[key]

    return go


def differences(a, b, prefix=""):
    """{name: max relative difference} of the arrays of two runs whose names start with prefix."""
    out = {}
    for name in a:
        if name.startswith(prefix) and a[name].dtype.kind == "f":
            scale = max(float(np.max(np.abs(a[name]))), 1e-3)
            out[name] = float(np.max(np.abs(a[name] - b[name]))) / scale
    return out


def assert_identical(a, b, prefix=""):
    unequal = [
        name for name in a if name.startswith(prefix) and not np.array_equal(a[name], b[name])
    ]
    assert not unequal, f"not bit-exact: {unequal}; relative differences {differences(a, b)}"


def test_two_processes_with_the_same_seed_train_identically(run):
    assert_identical(run("numba", 2), run("numba", 2, again=1))


def test_another_seed_trains_otherwise(run):
    """The comparisons above could not fail if the seed were ignored: it is not."""
    a, b = run("numba", 2), run("numba", 2, seed=8)
    assert not np.array_equal(a["init_0"], b["init_0"])
    assert not np.array_equal(a["losses"], b["losses"])


def test_set_num_threads_is_the_same_as_numba_num_threads(run):
    """``NUMBA_NUM_THREADS=1`` and ``set_num_threads(1)`` under ``NUMBA_NUM_THREADS=2`` agree."""
    assert_identical(run("numba", 1, env_threads=1), run("numba", 1, env_threads=2))


def test_the_numpy_twins_do_not_depend_on_the_thread_count(run):
    assert_identical(run("numpy", 1), run("numpy", 2))


@pytest.mark.parametrize("other", [("numba", 1), ("numpy", 2)])
def test_initial_weights_are_the_same_everywhere(run, other):
    assert_identical(run("numba", 2), run(*other), prefix="init_")


def test_numba_inference_does_not_depend_on_the_thread_count(run):
    assert_identical(run("numba", 1), run("numba", 2), prefix="predict")


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"),
    reason="OPENBLAS_CORETYPE=Haswell names x86-64 kernels; other CPUs have none to pick",
)
def test_the_thread_count_changes_nothing_on_openblas_haswell_kernels(run):
    """OpenBLAS's Haswell kernels (forced here, as an AMD EPYC without AVX-512 picks them) round
    a row of a product by the product's number of rows: the chunks must not follow the threads.
    Measured with chunks of ceil(N / threads) images: the predictions differed (1e-7)."""
    one, two = run("numba", 1, blas_kernels="Haswell"), run("numba", 2, blas_kernels="Haswell")
    assert str(two["blas_kernels"]) == "Haswell", "OPENBLAS_CORETYPE=Haswell was not applied"
    assert_identical(one, two)


def test_numba_training_does_not_depend_on_the_thread_count(run):
    """A Conv2D sums its kernel gradient over batch chunks, and Dense cuts its big products in
    blocks: the same chunks and blocks on 1 and 2 threads (``parallel.CUT_PIECES``)."""
    assert_identical(run("numba", 1), run("numba", 2))


def test_numba_kernels_and_numpy_twins_differ_only_by_rounding(run):
    """Measured: 2e-7 relative in the predictions, up to 1e-5 in the weights after 12 steps
    (float32; the largest in the first Conv2D's small biases).

    Were a Dropout mask or a random draw different, whole units would differ (order 1).
    """
    found = differences(run("numba", 2), run("numpy", 2))
    assert found["predict"] < 1e-5, found
    assert max(found.values()) < 1e-4, found
