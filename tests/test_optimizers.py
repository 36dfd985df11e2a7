"""Optimizers against step-by-step references written from Keras's formulas (float64).

The references are written per element with Python floats, a different computation from the
vectorised optimizers, and include Keras's float32 roundings of momentum and the betas.
"""

import numpy as np
import pytest

from scratchnet import config, optimizers

# floatx float64: the learning rate variable is float64 too, as in Keras's float64 mode.
pytestmark = pytest.mark.usefixtures("float64")

F32 = lambda v: float(np.float32(v))  # noqa: E731  Keras casts these constants through float32


def run(opt, grads, w0):
    w = w0.copy()
    for g in grads:
        opt.apply([g], [w])
    return w


def reference_sgd(grads, w0, lr, momentum, nesterov):
    w, m, mu = w0.copy().ravel(), np.zeros(w0.size), F32(momentum)
    for g in grads:
        g = g.ravel()
        for i in range(w.size):
            if momentum == 0:
                w[i] -= g[i] * lr
                continue
            m[i] = m[i] * mu - g[i] * lr
            w[i] += (m[i] * mu - g[i] * lr) if nesterov else m[i]
    return w.reshape(w0.shape)


def reference_adam(grads, w0, lr, b1, b2, eps, amsgrad):
    w, m, v, vhat = w0.copy().ravel(), np.zeros(w0.size), np.zeros(w0.size), np.zeros(w0.size)
    for t, g in enumerate(grads, start=1):
        alpha = lr * np.sqrt(1 - F32(b2) ** t) / (1 - F32(b1) ** t)
        g = g.ravel()
        for i in range(w.size):
            m[i] += (g[i] - m[i]) * (1 - b1)
            v[i] += (g[i] ** 2 - v[i]) * (1 - b2)
            vhat[i] = max(vhat[i], v[i])
            w[i] -= m[i] * alpha / (np.sqrt(vhat[i] if amsgrad else v[i]) + eps)
    return w.reshape(w0.shape)


def reference_rmsprop(grads, w0, lr, rho, momentum, eps, centered):
    w, v, a, mom = (np.zeros(w0.size) for _ in range(4))
    w[:] = w0.ravel()
    for g in grads:
        g = g.ravel()
        for i in range(w.size):
            v[i] = rho * v[i] + (1 - rho) * g[i] ** 2
            if centered:
                a[i] = rho * a[i] + (1 - rho) * g[i]
            inc = lr * g[i] / np.sqrt(v[i] - a[i] ** 2 + eps if centered else v[i] + eps)
            if momentum > 0:
                mom[i] = momentum * mom[i] + inc
                w[i] -= mom[i]
            else:
                w[i] -= inc
    return w.reshape(w0.shape)


RNG = np.random.default_rng(0)
W0 = RNG.normal(size=(3, 4))
GRADS = [RNG.normal(size=(3, 4)) for _ in range(7)]


@pytest.mark.parametrize(
    "momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True), (0.5, True)]
)
def test_sgd(momentum, nesterov):
    opt = optimizers.SGD(learning_rate=0.05, momentum=momentum, nesterov=nesterov)
    np.testing.assert_allclose(
        run(opt, GRADS, W0), reference_sgd(GRADS, W0, 0.05, momentum, nesterov), rtol=1e-15
    )


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("eps", [1e-7, 0.1])
def test_adam(amsgrad, eps):
    opt = optimizers.Adam(learning_rate=0.01, epsilon=eps, amsgrad=amsgrad)
    expected = reference_adam(GRADS, W0, 0.01, 0.9, 0.999, eps, amsgrad)
    np.testing.assert_allclose(run(opt, GRADS, W0), expected, rtol=1e-14)


def test_adam_is_not_the_textbook_form_when_epsilon_matters():
    w = run(optimizers.Adam(learning_rate=0.01, epsilon=0.1), GRADS, W0)
    m = v = 0
    textbook = W0.copy()
    for t, g in enumerate(GRADS, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        textbook -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 0.1)
    assert np.abs(w - textbook).max() > 1e-4


@pytest.mark.parametrize(
    "momentum, centered", [(0.0, False), (0.0, True), (0.5, False), (0.5, True)]
)
def test_rmsprop(momentum, centered):
    opt = optimizers.RMSprop(learning_rate=0.01, momentum=momentum, centered=centered)
    expected = reference_rmsprop(GRADS, W0, 0.01, 0.9, momentum, 1e-7, centered)
    np.testing.assert_allclose(run(opt, GRADS, W0), expected, rtol=1e-14)


def test_learning_rate_is_rounded_to_float32_for_float32_weights():
    w = np.zeros(1, dtype="float32")
    optimizers.SGD(learning_rate=0.01).apply([np.ones(1, dtype="float32")], [w])
    assert w[0] == -np.float32(0.01)


def test_iterations_count_steps_and_variables_follow_keras_order():
    opt = optimizers.Adam()
    a, b = np.zeros((2, 2)), np.zeros(3)
    opt.apply([np.ones((2, 2)), np.ones(3)], [a, b])
    assert opt.iterations == 1
    shapes = [v.shape for v in opt.variables]
    assert shapes == [(), (), (2, 2), (2, 2), (3,), (3,)]  # iteration, lr, (m, v) per variable


def test_string_names_give_class_defaults():
    assert optimizers.get("sgd").learning_rate == 0.01
    assert optimizers.get("Adam").learning_rate == 0.001
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("AdamW"), optimizers.AdamW)
    assert optimizers.get("lion").get_config()["beta_2"] == 0.99
    with pytest.raises(ValueError, match="Unknown optimizer 'ftrl'"):
        optimizers.get("ftrl")


def test_sgd_momentum_must_be_a_float_like_keras():
    with pytest.raises(ValueError, match="momentum must be a float"):
        optimizers.SGD(momentum=0)


def trained_state(make, w0, grads):
    """The weights and slot arrays after ``make()`` applies ``grads`` in turn to a copy of w0."""
    opt, w = make(), w0.copy()
    for g in grads:
        opt.apply([g], [w])
    return w, [a.copy() for a in opt.slot_order()]


def assert_same_bits(state_a, state_b):
    """Two ``trained_state`` results are equal bit for bit: weights and every slot."""
    np.testing.assert_array_equal(state_a[0], state_b[0])
    for a, b in zip(state_a[1], state_b[1], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.SGD(0.1),
        lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        lambda: optimizers.Adam(),
        lambda: optimizers.Adam(amsgrad=True),
        lambda: optimizers.RMSprop(),
        lambda: optimizers.RMSprop(momentum=0.5, centered=True),
        lambda: optimizers.Nadam(),
        lambda: optimizers.Adadelta(),
    ],
)
def test_big_parameters_updated_in_parts_equal_one_piece(make):
    """Above PARALLEL_MIN_SIZE each core updates a slice; the numbers must not change at all."""

    assert config.num_threads() >= 2, "scripts/test.sh sets NUMBA_NUM_THREADS=2"
    rng = np.random.default_rng(0)
    shape = (1500, 1400)  # 2.1M values: split between the cores
    assert np.prod(shape) >= make().PARALLEL_MIN_SIZE
    w0 = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    grads[1] = np.asfortranarray(grads[1])  # a non-contiguous gradient is read correctly too
    results = []
    for threads in (1, 2):
        previous = config.num_threads()
        config.set_num_threads(threads)
        try:
            results.append(trained_state(make, w0, grads))
        finally:
            config.set_num_threads(previous)
    assert_same_bits(*results)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "make",
    [lambda: optimizers.SGD(0.01), lambda: optimizers.Adam(0.01), lambda: optimizers.RMSprop(0.01)],
    ids=["sgd", "adam", "rms"],
)
def test_numba_update_kernels_give_the_numpy_formulas_bits(make, dtype):
    """The one-pass update kernels against the NumPy lines they replace."""

    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((30, 17)).astype(dtype)
    grads = [rng.standard_normal((30, 17)).astype(dtype) for _ in range(5)]
    results = []
    for family in ("numba", "numpy"):
        previous = config.kernels()
        config.use_kernels(family)
        try:
            results.append(trained_state(make, w0, grads))
        finally:
            config.use_kernels(previous)
    assert_same_bits(*results)
