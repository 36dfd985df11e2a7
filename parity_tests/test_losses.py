"""Every loss against Keras: value and gradient, on the fused (logits) and the clipped path.

Keras fuses softmax/sigmoid with cross-entropy when the prediction comes out of its own
activation (keras-behaviour.md section 4): the loss is then ``logsumexp(z) - z_y`` with gradient
``(p - y) / N`` at the logits. Plain probabilities take the renormalise-and-clip path instead.
Saturated logits (|z| ~ 50) are drawn on purpose: that is where the two paths disagree, and where
a library that clips in the fused path (or does not clip in the plain one) is caught.
"""

import numpy as np
import pytest
from hypothesis import given

import scratchnet
from keras_impl.gradients import loss_value_and_gradient
from keras_impl.setup import keras, tf, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import GRADIENT_FLOOR, LOSS_FLOOR, assert_parity, rtol_for

DTYPES = ("float64", "float32")
FUSED = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")


def probabilities(name, z):
    """What a NumPy user would pass as y_pred: softmax (rows rescaled by 0.5-2, so Keras's
    renormalisation matters) or sigmoid of ``z``, or ``z`` itself for mean squared error."""
    if name == "binary_crossentropy":
        e = np.exp(-np.abs(z))  # never overflows
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    if name == "mean_squared_error":
        return z
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    if name == "categorical_crossentropy":
        p = p * np.linspace(0.5, 2.0, len(z)).astype(z.dtype)[:, None]
    return p


def _check(name, dtype, ours, theirs, tensor, config):
    (o_value, o_grad), (t_value, t_grad) = ours, theirs
    rtol = rtol_for(dtype)
    assert_parity(
        o_value,
        t_value,
        rtol=rtol,
        tensor=f"{tensor} value",
        layer=name,
        config=config,
        floor=LOSS_FLOOR,
    )
    # The gradient of a mean over N samples is about 1/N of dL/dsample: that is the floor's scale.
    floor = GRADIENT_FLOOR / max(1, len(np.atleast_1d(o_grad)))
    assert_parity(
        o_grad,
        t_grad,
        rtol=rtol,
        tensor=f"{tensor} gradient",
        layer=name,
        config=config,
        floor=floor,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FUSED)
@given(data=S.st.data())
def test_fused_loss_from_logits(name, dtype, data):
    y, z = data.draw(S.loss_cases(name, dtype))
    config = {"y_true": y.tolist(), "logits": z.tolist(), "dtype": dtype}
    with use_floatx(dtype):
        theirs = loss_value_and_gradient(name, y, logits=z)
        ours = scratchnet.losses.get(name).value_and_grad_from_logits(y, z)
    _check(name, dtype, ours, theirs, "fused", config)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", S.LOSSES)
@given(data=S.st.data())
def test_loss_on_plain_probabilities(name, dtype, data):
    y, z = data.draw(S.loss_cases(name, dtype))
    p = probabilities(name, z)
    config = {"y_true": y.tolist(), "y_pred": p.tolist(), "dtype": dtype}
    with use_floatx(dtype):
        theirs = loss_value_and_gradient(name, y, y_pred=p)
        loss = scratchnet.losses.get(name)
        ours = (loss(y, p), loss.gradient(y, p))
    _check(name, dtype, ours, theirs, "clipped", config)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", S.LOSSES)
@given(data=S.st.data())
def test_per_sample_loss_functions(name, dtype, data):
    y, z = data.draw(S.loss_cases(name, dtype))
    p = probabilities(name, z)
    with use_floatx(dtype):
        theirs = getattr(keras.losses, name)(tf.constant(y), tf.constant(p)).numpy()
        ours = getattr(scratchnet.losses, name)(y, p)
    assert_parity(
        ours, theirs, rtol=rtol_for(dtype), tensor="per-sample values", layer=name, floor=LOSS_FLOOR
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FUSED)
@given(data=S.st.data())
def test_from_logits_option(name, dtype, data):
    y, z = data.draw(S.loss_cases(name, dtype))
    class_name = "".join(part.capitalize() for part in name.split("_"))
    with use_floatx(dtype):
        theirs = getattr(keras.losses, class_name)(from_logits=True)(y, z).numpy()
        ours = getattr(scratchnet.losses, class_name)(from_logits=True)(y, z)
    assert_parity(
        ours, theirs, rtol=rtol_for(dtype), tensor="from_logits value", layer=name, floor=LOSS_FLOOR
    )


def test_saturated_example_from_the_spec():
    # keras-behaviour.md section 4.2: fused 6.80253553, the clip path would give 5.5086.
    z = np.array([[20.0, 0.0, -20.0], [20.0, 0.0, -20.0], [1.0, 2.0, 3.0]])
    y = np.eye(3)
    with use_floatx("float64"):
        value, _ = scratchnet.losses.get("categorical_crossentropy").value_and_grad_from_logits(
            y, z
        )
    assert abs(value - 6.80253553) < 1e-6  # the spec's number was measured in float32
    with use_floatx("float64"):
        clipped = scratchnet.losses.get("categorical_crossentropy")(y, probabilities("softmax", z))
    assert abs(clipped - 5.5086) < 1e-4
