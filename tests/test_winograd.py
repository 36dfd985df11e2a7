"""Winograd's F(2x2, 3x3) (scratchnet.kernels.conv.winograd) against the direct convolution.

* each transform's gradient kernel is its adjoint: <T(a), b> == <a, T*(b)>;
* float64 forward, dx, dkernel and dbias within 1e-12 of the NumPy twin (the direct
  convolution), on hypothesis-drawn shapes: odd and even sizes, 'same' and 'valid', one image
  to several chunks; float32 within the kernels' usual tolerance;
* Conv2D + MaxPooling2D fused gives the unfused numbers bit for bit, and 1 and 2 threads the
  same bits;
* which layers take it (``use_winograd``).

Against Keras: parity_tests/test_winograd.py.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet import activations, config
from scratchnet.kernels import backend, process
from scratchnet.kernels import conv_pool as conv_pool_ops
from scratchnet.kernels.conv import chunks, reference, winograd
from scratchnet.kernels.elementwise import Deferred


@contextlib.contextmanager
def any_width():
    """Winograd for every 3x3 stride-1 convolution, whatever its channels (small test shapes)."""
    saved = winograd.WINOGRAD_MIN_CHANNELS, winograd.WINOGRAD_MIN_FILTERS
    winograd.WINOGRAD_MIN_CHANNELS = winograd.WINOGRAD_MIN_FILTERS = 1
    try:
        yield
    finally:
        winograd.WINOGRAD_MIN_CHANNELS, winograd.WINOGRAD_MIN_FILTERS = saved


@st.composite
def cases(draw, dtype=None):
    """A Winograd-shaped convolution: 3x3, stride 1, 'same' or 'valid', outputs 2-9 per side."""
    padding = draw(st.sampled_from(["valid", "same"]))
    extra = 2 if padding == "valid" else 0  # 'valid' loses 2 pixels per side
    H, W = draw(st.integers(2, 9)) + extra, draw(st.integers(2, 9)) + extra
    N, C_in, C_out = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 7))
    dtype = dtype or draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    H_out, W_out, *_ = reference.conv2d_geometry((N, H, W, C_in), (3, 3), (1, 1), padding, (1, 1))
    return dict(
        x=rng.normal(size=(N, H, W, C_in)).astype(dtype),
        kernel=rng.normal(size=(3, 3, C_in, C_out)).astype(dtype),
        bias=rng.normal(size=C_out).astype(dtype),
        dy=rng.normal(size=(N, H_out, W_out, C_out)).astype(dtype),
        padding=padding,
        one_image_chunks=draw(st.booleans()),
    )


def run(family, case, activation=None):
    """``(y, dx, dkernel, dbias)`` of one kernel family, backward through the activation."""
    K = backend.FAMILIES[family]
    x, kernel, bias, dy = case["x"], case["kernel"], case["bias"], case["dy"]
    geometry = (1, 1), case["padding"], (1, 1)
    y, _ = K.conv2d_forward(x, kernel, bias, *geometry, activation=activation)
    dz = dy if activation is None else Deferred.activation_backward(activation, dy, y)
    return (y, *K.conv2d_backward(dz, x, kernel, *geometry, need_dx=True))


def plan_of(case):
    return chunks.ChunkPlan(
        case["x"].shape, case["kernel"].shape, (1, 1), case["padding"], (1, 1), None
    )


# ----------------------------------------------------------------------------- the transforms


def _inner(a, b):
    return float(np.sum(a.astype(np.float64) * b.astype(np.float64)))


@given(
    st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5), st.integers(0, 99)
)
@settings(max_examples=30)
def test_each_backward_transform_is_the_adjoint_of_its_forward_transform(n, th, tw, C, seed):
    """<T(a), b> == <a, T*(b)> for the input, output and kernel transforms: the gradient of a
    linear map is its adjoint, so this pins each backward kernel to its forward one."""
    rng = np.random.default_rng(seed)
    xp = rng.normal(size=(n, 2 * th + 2, 2 * tw + 2, C))
    dV = rng.normal(size=(16, n * th * tw, C))
    V, dxp = np.empty_like(dV), np.empty_like(xp)
    winograd.input_transform_kernel(xp, th, tw, V)
    winograd.input_transform_adjoint_kernel(dV, th, tw, dxp)
    assert _inner(V, dV) == pytest.approx(_inner(xp, dxp), rel=1e-12)

    H_out, W_out = 2 * th - rng.integers(0, 2), 2 * tw - rng.integers(0, 2)  # odd sizes too
    M = rng.normal(size=(16, n * th * tw, C))
    dz = rng.normal(size=(n, H_out, W_out, C))
    z, dM = np.empty_like(dz), np.empty_like(M)
    winograd.output_transform_kernel(M, th, tw, z)
    winograd.output_transform_adjoint_kernel(dz, th, tw, dM)
    assert _inner(z, dz) == pytest.approx(_inner(M, dM), rel=1e-12)

    g, dU = rng.normal(size=(3, 3, C, 2)), rng.normal(size=(16, C, 2))
    U, dg = winograd.kernel_transform(g, np.float64), winograd.kernel_transform_adjoint(dU)
    assert _inner(U, dU) == pytest.approx(_inner(g, dg), rel=1e-12)


def test_one_tile_is_lavin_and_grays_formula():
    """One 4x4 tile and one channel: A^T [(G g G^T) * (B^T d B)] A is the 2x2 correlation."""
    rng = np.random.default_rng(0)
    d, g = rng.normal(size=(4, 4)), rng.normal(size=(3, 3))
    Y = winograd.AT @ ((winograd.G @ g @ winograd.G.T) * (winograd.BT @ d @ winograd.BT.T))
    Y = Y @ winograd.AT.T
    direct = [[np.sum(d[i : i + 3, j : j + 3] * g) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(Y, direct, rtol=1e-13)


# ----------------------------------------------------------------------------- against the twin


@given(cases(), st.sampled_from([None, activations.relu, activations.sigmoid, activations.tanh]))
@settings(max_examples=40, deadline=None)
def test_winograd_matches_the_direct_convolution(case, activation):
    """Forward and every gradient against the NumPy twin (direct, im2col): float64 within
    1e-12 (issue 19's bound is 1e-10), float32 within the kernels' usual 1e-4."""
    saved = chunks.CHUNK_FLOATS
    if case["one_image_chunks"]:
        chunks.CHUNK_FLOATS = 1  # every image a chunk of its own: several chunks per thread
    try:
        with any_width():
            assert plan_of(case).winograd
            fast = run("numba", case, activation)
    finally:
        chunks.CHUNK_FLOATS = saved
    want = run("numpy", case, activation)
    f64 = case["x"].dtype == np.float64
    for name, got, expected in zip(("y", "dx", "dkernel", "dbias"), fast, want, strict=True):
        assert got.dtype == case["x"].dtype and got.shape == expected.shape, name
        scale = max(1.0, float(np.abs(expected).max()))
        tol = dict(rtol=1e-12, atol=1e-12 * scale) if f64 else dict(rtol=1e-4, atol=1e-4 * scale)
        np.testing.assert_allclose(got, expected, **tol, err_msg=name)


@given(cases())
@settings(max_examples=10, deadline=None)
def test_a_first_layer_skips_dx_and_keeps_the_same_kernel_gradient(case):
    """need_dx=False (a model's first layer): no dx, and dkernel and dbias bit for bit those of
    the pass that computes dx."""
    K = backend.FAMILIES["numba"]
    x, kernel, dy = case["x"], case["kernel"], case["dy"]
    with any_width():
        assert plan_of(case).winograd
        with_dx = K.conv2d_backward(dy, x, kernel, (1, 1), case["padding"], (1, 1), need_dx=True)
        without = K.conv2d_backward(dy, x, kernel, (1, 1), case["padding"], (1, 1), need_dx=False)
    assert without[0] is None
    np.testing.assert_array_equal(without[1], with_dx[1])
    np.testing.assert_array_equal(without[2], with_dx[2])


@given(cases(dtype=np.float32))
@settings(max_examples=20, deadline=None)
def test_fused_conv_and_pooling_give_the_unfused_bits(case):
    """Conv2D + MaxPooling2D(2) as one step (conv_pool) equals conv2d then pooling bit for bit,
    forward and backward, when the convolution runs as Winograd."""
    with any_width():
        assert plan_of(case).winograd
        check_fused_against_unfused(case)


def check_fused_against_unfused(case):
    K = backend.FAMILIES["numba"]
    x, kernel, bias, padding = case["x"], case["kernel"], case["bias"], case["padding"]
    relu = activations.relu
    y, _ = K.conv2d_forward(x, kernel, bias, (1, 1), padding, (1, 1), activation=relu)
    p, argmax = K.max_pool2d_forward(y, (2, 2), (2, 2), "valid")
    fused_p, fused_argmax = conv_pool_ops.conv2d_maxpool_forward(
        x, kernel, bias, (1, 1), padding, (1, 1), relu, (2, 2), (2, 2), "valid", {}
    )
    np.testing.assert_array_equal(fused_p, p)
    np.testing.assert_array_equal(fused_argmax, argmax)
    dp = np.random.default_rng(1).normal(size=p.shape).astype(np.float32)
    dy = K.max_pool2d_backward(dp, argmax, y.shape)
    unfused = K.conv2d_backward(
        Deferred.activation_backward(relu, dy, y), x, kernel, (1, 1), padding, (1, 1)
    )
    fused = conv_pool_ops.conv2d_maxpool_backward(
        dp, fused_argmax, fused_p, x, kernel, (1, 1), padding, (1, 1), relu, True, {}
    )
    for name, a, b in zip(("dx", "dkernel", "dbias"), fused, unfused, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_one_and_two_threads_give_the_same_bits():
    """seminar's second convolution (a real Winograd layer, several chunks): the numbers do not
    depend on how many threads run the chunks."""
    rng = np.random.default_rng(3)
    case = dict(
        x=rng.normal(size=(32, 14, 14, 32)).astype(np.float32),
        kernel=rng.normal(size=(3, 3, 32, 64)).astype(np.float32) * 0.1,
        bias=rng.normal(size=64).astype(np.float32),
        dy=rng.normal(size=(32, 14, 14, 64)).astype(np.float32),
        padding="same",
    )
    plan = plan_of(case)
    assert plan.winograd and len(plan.chunks) >= 2
    saved = config.num_threads()
    try:
        config.set_num_threads(2)
        two = run("numba", case, activations.relu)
        config.set_num_threads(1)
        one = run("numba", case, activations.relu)
    finally:
        config.set_num_threads(saved)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- which layers


@pytest.mark.parametrize(
    "x_shape, kernel_shape, strides, padding, expected",
    [
        ((32, 14, 14, 32), (3, 3, 32, 64), (1, 1), "same", True),  # seminar's second conv
        ((128, 13, 13, 32), (3, 3, 32, 64), (1, 1), "valid", True),  # the convnet's
        ((32, 26, 26, 32), (3, 3, 32, 16), (1, 1), "valid", False),  # 16 filters
        ((32, 28, 28, 1), (3, 3, 1, 32), (1, 1), "same", False),  # a first layer: one channel
        ((32, 13, 13, 8), (3, 3, 8, 8), (1, 1), "valid", False),  # zhou's: 8 channels
        ((128, 28, 28, 32), (3, 3, 32, 64), (2, 2), "same", False),  # modern's: strided
        ((8, 9, 9, 32), (5, 5, 32, 64), (1, 1), "valid", False),  # 5x5
        ((8, 9, 9, 32), (3, 3, 32, 64), (1, 1), "valid", True),
        ((8, 3, 3, 32), (3, 3, 32, 64), (1, 1), "valid", False),  # a 1x1 output
    ],
)
def test_which_convolutions_run_as_winograd(x_shape, kernel_shape, strides, padding, expected):
    plan = chunks.ChunkPlan(x_shape, kernel_shape, strides, padding, (1, 1), None)
    assert plan.winograd == expected
    assert not (plan.winograd and plan.shifted)


@pytest.mark.parametrize("family, algorithm", [("SkylakeX", "shifted"), ("Haswell", "winograd")])
def test_hanoi_takes_shifted_products_where_they_run_and_winograd_elsewhere(
    family, algorithm, monkeypatch
):
    """hanoi's second convolution (26x26x32 to 32 filters, 'valid'): the shifted products come
    first on the BLAS kernels they run on; elsewhere Winograd, not im2col."""
    monkeypatch.setattr(process, "_blas_kernel", [family])
    plan = chunks.ChunkPlan((64, 26, 26, 32), (3, 3, 32, 32), (1, 1), "valid", (1, 1), None)
    assert (plan.shifted, plan.winograd) == (algorithm == "shifted", algorithm == "winograd")


def test_dilated_convolutions_do_not_run_as_winograd():
    plan = chunks.ChunkPlan((4, 12, 12, 32), (3, 3, 32, 64), (1, 1), "valid", (2, 2), None)
    assert not plan.winograd
