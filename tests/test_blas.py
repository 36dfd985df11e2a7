"""scratchnet.kernels.blas.gemm: c = op(a) @ op(b) + beta * c through numba's BLAS helper."""

import os
import subprocess
import sys

import numpy as np
import pytest

from scratchnet.kernels.blas import gemm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_matches_numpy(dtype, trans_a, trans_b, beta):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 7) if trans_a else (7, 5)).astype(dtype)
    b = rng.normal(size=(3, 5) if trans_b else (5, 3)).astype(dtype)
    c = rng.normal(size=(7, 3)).astype(dtype)
    c[0, 0] = np.nan  # with beta 0, what c held must not leak in (BLAS does not read it)
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    if beta:
        c[0, 0] = 2.0
        expected = expected + c
    gemm(a, b, c, beta, trans_a, trans_b)
    np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_gemm_works_on_row_ranges_of_a_bigger_matrix():
    """The shifted convolution passes row slices: views, with the parent's row stride."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    k = rng.normal(size=(4, 3)).astype(np.float32)
    out = np.zeros((12, 3), np.float32)
    gemm(x[3:13], k, out[1:11], 0.0, False, False)
    np.testing.assert_allclose(out[1:11], x[3:13] @ k, rtol=1e-5)
    assert not out[0].any() and not out[11:].any()  # nothing written outside the target rows


def test_gemm_refuses_mixed_dtypes_and_strided_rows():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="one dtype"):
        gemm(a, np.ones((4, 2), np.float64), np.zeros((3, 2), np.float32), 0.0, False, False)
    with pytest.raises(ValueError, match="contiguous rows"):
        gemm(np.ones((3, 8), np.float32)[:, ::2], np.ones((4, 2), np.float32),
             np.zeros((3, 2), np.float32), 0.0, False, False)  # fmt: skip


def test_gemm_and_the_shifted_convolution_run_as_plain_python():
    """NUMBA_DISABLE_JIT=1 runs every kernel as Python (see scratchnet.kernels.jit); gemm then has
    no BLAS helper to call and uses NumPy."""
    code = """
import numpy as np
from scratchnet import activations
from scratchnet.kernels import backend, process
from scratchnet.kernels.conv import chunks, shifted
from scratchnet.kernels.elementwise import Deferred
rng = np.random.default_rng(0)
x = rng.normal(size=(2, 6, 6, 16)).astype(np.float32)
kernel = rng.normal(size=(3, 3, 16, 4)).astype(np.float32)
shifted.SHIFTED_MAX_WASTE = float("inf")
shifted.SHIFTED_BLAS_KERNELS = {process.blas_kernel_family()}  # on this BLAS too
assert chunks.ChunkPlan(x.shape, kernel.shape, (1, 1), "valid", (1, 1), None).shifted
results = []
for K in (backend.NumbaKernels, backend.NumpyKernels):
    y, _ = K.conv2d_forward(x, kernel, activation=activations.tanh)
    dz = Deferred(activations.tanh.backward, np.ones_like(y), y)
    results.append((y, *K.conv2d_backward(dz, x, kernel)))
for got, want in zip(*results):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
print("ok")
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_gemm_takes_length_one_axes_with_any_stride():
    """NumPy calls an array with a length-1 axis contiguous whatever its stride on that axis
    (the transposed taps of a one-channel kernel are like this), so gemm must not care."""
    from numpy.lib.stride_tricks import as_strided

    values = np.arange(1.0, 4.0, dtype=np.float32)
    column = as_strided(values, shape=(3, 1), strides=(4, 400))  # (3, 1), odd inner stride
    row = as_strided(values, shape=(1, 3), strides=(4000, 4))  # (1, 3), odd row stride
    out = np.zeros((3, 3), np.float32)
    gemm(column, row, out, 0.0, False, False)
    np.testing.assert_array_equal(out, np.outer(values, values))
