"""A fuzz of the public API (issue 17): models, inputs and calls drawn by hypothesis.

Hypothesis draws a small model (Dense, Conv2D, pooling, BatchNormalization, Dropout, Flatten;
Sequential or Functional), an input (its shape right or wrong, dtype int, bool, float16,
float64, objects, strings or complex, values with NaN and inf, an empty or a one-sample batch, a
huge declared batch_size) and a call (fit, predict, evaluate, save and load). Every outcome must
be a result or a ValueError/TypeError whose message names the call, the model or the layer:
never an IndexError, a ZeroDivisionError, a numba TypingError or any other exception. NaN
inputs give NaN predictions, as in Keras, not an error.

What it found (each kept below as an explicit regression test): strings and objects failed in
NumPy's ``astype`` ("could not convert string to float") without naming the argument; complex
inputs lost their imaginary part silently; an input of rank 3 for an ``Input((4,))`` reached
NumPy's matmul ("mismatch in its core dimension") where Keras drops a trailing axis of 1; a
scalar was called "empty".
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchnet import Input, layers, models

ALLOWED = (ValueError, TypeError)
DTYPES = ["float32", "float64", "float16", "int32", "uint8", "bool", "object", "str", "complex"]


def build(kind, image, hidden, pool, norm, dropout):
    """A small classifier of 3 classes on (6, 6, 2) images or (5,) vectors."""
    shape = (6, 6, 2) if image else (5,)
    stack = []
    if image:
        stack.append(layers.Conv2D(hidden, 3, padding="same", activation="relu"))
        if pool:
            stack.append(layers.MaxPooling2D())
        stack.append(layers.Flatten())
    stack.append(layers.Dense(hidden, activation="relu"))
    if norm:
        stack.append(layers.BatchNormalization())
    if dropout:
        stack.append(layers.Dropout(0.5))
    stack.append(layers.Dense(3, activation="softmax"))
    if kind == "sequential":
        model = models.Sequential([Input(shape), *stack])
    else:
        x = inputs = Input(shape)
        for layer in stack:
            x = layer(x)
        model = models.Model(inputs, x)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@st.composite
def data(draw, shape):
    """(x, y): a batch for ``shape``, sometimes of another shape, dtype or with NaN/inf."""
    n = draw(st.sampled_from([0, 1, 2, 7]))
    if draw(st.booleans()):  # another per-sample shape
        shape = draw(st.lists(st.integers(1, 6), min_size=0, max_size=4).map(tuple))
    x = np.random.default_rng(draw(st.integers(0, 9))).normal(size=(n, *shape))
    special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
    if special is not None and x.size:
        x.flat[draw(st.integers(0, x.size - 1))] = special
    dtype = draw(st.sampled_from(DTYPES))
    if dtype == "object":
        x = x.astype(object)
        if x.size and draw(st.booleans()):
            x.flat[0] = "seven"
    elif dtype == "str":
        x = x.astype(str)
    elif dtype in ("int32", "uint8"):
        x = np.nan_to_num(x).astype(dtype)
    else:
        x = x.astype(dtype)
    y = np.random.default_rng(1).integers(0, 3, size=draw(st.sampled_from([n, n, n + 1])))
    return x, y


def names_its_place(message, model, call):
    return (
        call in message
        or model.name in message
        or any(layer.name in message for layer in model.layers)
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["sequential", "functional"]),
    image=st.booleans(),
    hidden=st.integers(1, 4),
    pool=st.booleans(),
    norm=st.booleans(),
    dropout=st.booleans(),
    call=st.sampled_from(["fit", "predict", "evaluate", "save"]),
    batch_size=st.sampled_from([None, 1, 3, 10**9]),
    draw_data=st.data(),
)
def test_every_call_returns_or_names_what_is_wrong(
    tmp_path_factory, kind, image, hidden, pool, norm, dropout, call, batch_size, draw_data
):
    model = build(kind, image, hidden, pool, norm, dropout)
    x, y = draw_data.draw(data((6, 6, 2) if image else (5,)))
    try:
        if call == "fit":
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        elif call == "predict":
            out = model.predict(x, batch_size=batch_size, verbose=0)
            assert out.shape == (len(x), 3)
            finite = np.isfinite(np.asarray(x, dtype="float64").reshape(len(x), -1)).all(axis=1)
            assert np.isfinite(out[finite]).all()  # a NaN stays in its own sample
        elif call == "evaluate":
            model.evaluate(x, y, batch_size=batch_size, verbose=0)
        else:
            path = tmp_path_factory.mktemp("fuzz") / "m.keras"
            model.save(path)
            loaded = models.load_model(path)
            np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    except ALLOWED as error:
        assert names_its_place(str(error), model, call) or call == "save", (
            f"{type(error).__name__} names neither the call, the model nor a layer: {error}"
        )
        assert "TypingError" not in type(error).__name__, error


# ----------------------------------------------------------------------------- what it found


def dense_model():
    return build("sequential", False, 3, False, False, False)


@pytest.mark.parametrize(
    "x, error, words",
    [
        (np.array([["a"] * 5] * 2), TypeError, ["predict: x has dtype <U1", "numbers"]),
        (np.array([[1, 2, 3, 4, "a"]] * 2, dtype=object), TypeError, ["predict: x", "objects"]),
        (np.ones((2, 5), complex), TypeError, ["complex128", "x.real"]),
        (np.float32(3), ValueError, ["predict: x is a scalar", "x[None]"]),
        ([[1.0] * 5, [1.0] * 4], ValueError, ["predict: x cannot be made into one", "pad"]),
        (np.ones((2, 5, 3)), ValueError, ["expects inputs of shape (None, 5)", "(2, 5, 3)"]),
    ],
)
def test_bad_inputs_are_named(x, error, words):
    with pytest.raises(error) as caught:
        dense_model().predict(x, verbose=0)
    for word in words:
        assert word in str(caught.value)


def test_object_arrays_of_numbers_and_a_trailing_axis_of_one_work_as_in_keras():
    """Keras drops a trailing axis of 1, or adds one that the Input has
    (``Functional._adjust_input_rank``); numbers stored as objects are numbers."""
    model = dense_model()
    x = np.random.default_rng(0).normal(size=(4, 5))
    want = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x[..., None], verbose=0), want)
    np.testing.assert_array_equal(model.predict(x.astype(object), verbose=0), want)
    images = models.Sequential([Input((6, 6, 1)), layers.Flatten(), layers.Dense(2)])
    gray = np.random.default_rng(1).normal(size=(3, 6, 6))
    np.testing.assert_array_equal(images.predict(gray, verbose=0), images(gray[..., None]))


def test_labels_as_strings_are_named():
    with pytest.raises(TypeError, match="fit: y has dtype"):
        dense_model().fit(np.ones((2, 5)), np.array(["cat", "dog"]), verbose=0)


def test_nan_inputs_give_nan_predictions_in_their_own_sample():
    x = np.ones((3, 5), "float32")
    x[1, 2] = np.nan
    out = dense_model().predict(x, verbose=0)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()


def test_a_huge_batch_of_tiny_samples_and_a_huge_declared_batch_size():
    """10**6 samples of one value (4 MB) in one batch, and batch_size=10**12 on 3 samples."""
    model = models.Sequential([Input((1,)), layers.Dense(2)])
    x = np.ones((10**6, 1), "float32")
    out = model.predict(x, batch_size=10**6, verbose=0)
    assert out.shape == (10**6, 2) and np.all(out == out[0])
    assert model.predict(x[:3], batch_size=10**12, verbose=0).shape == (3, 2)
