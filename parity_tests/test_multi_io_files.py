"""A compiled two-input, two-output model's ``.keras`` file, both ways between scratchnet and
Keras 3.15: the compile settings (per-output losses, loss weights, metrics) come back intact,
and the loaded model goes on training to the same numbers as the model that saved it."""

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras
from parity_tests.test_multi_io import RTOL, build, data

COMPILES = {
    "dicts": dict(
        loss={"out_a": "sparse_categorical_crossentropy", "out_b": "binary_crossentropy"},
        loss_weights={"out_a": 0.3, "out_b": 2.0},
        metrics={"out_a": ["accuracy"], "out_b": ["accuracy", "mse"]},
    ),
    "lists": dict(
        loss=["sparse_categorical_crossentropy", None],
        loss_weights=[1.5, 0.0],
        metrics=[["accuracy"], None],
    ),
}


def settings(model):
    """What compile was given, as Keras's ``compile_config`` has it."""
    config = model.get_compile_config() if hasattr(model, "get_compile_config") else None
    if config is None:
        config = scratchnet.saving.serialization._compile_config(model)
    return {k: config[k] for k in ("loss", "loss_weights", "metrics")}


def continue_both(first, second, steps=3):
    """Train both (the saver and the loaded twin) on the same batches: the same History."""
    xa, xb, ya, yb = data(20, seed=3)
    fit = dict(batch_size=6, epochs=steps, verbose=0, shuffle=False)
    got = first.fit([xa, xb], [ya, yb], **fit).history
    want = second.fit([xa, xb], [ya, yb], **fit).history
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, err_msg=key)


@pytest.mark.parametrize("case", list(COMPILES))
def test_scratchnet_file_loads_in_keras_with_its_compile_settings(case, tmp_path):
    ours = build(scratchnet)
    ours.compile(optimizer=scratchnet.optimizers.SGD(0.1), **COMPILES[case])
    path = tmp_path / "multi.keras"
    ours.save(path)
    theirs = keras.models.load_model(path)
    assert theirs.compiled
    assert theirs.output_names == ["out_a", "out_b"]
    assert settings(theirs) == {k: COMPILES[case][k] for k in ("loss", "loss_weights", "metrics")}
    continue_both(ours, theirs)


@pytest.mark.parametrize("case", list(COMPILES))
def test_keras_file_loads_in_scratchnet_with_its_compile_settings(case, tmp_path):
    theirs = build(keras)
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), **COMPILES[case])
    path = tmp_path / "multi.keras"
    theirs.save(path)
    ours = scratchnet.models.load_model(path)
    assert ours.compiled and ours.output_names == ["out_a", "out_b"]
    assert settings(ours) == {k: COMPILES[case][k] for k in ("loss", "loss_weights", "metrics")}
    for g, w in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(g, w)
    continue_both(ours, theirs)
    again = tmp_path / "again.keras"  # and back: scratchnet's file of the loaded model
    ours.save(again)
    assert settings(keras.models.load_model(again)) == settings(ours)
