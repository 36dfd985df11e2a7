"""The data fit takes besides arrays, against Keras 3.15 on the same weights: Python generators
of (x, y) or (x, y, sample_weight) with steps_per_epoch, PyDataset subclasses (scratchnet's
``utils.PyDataset`` and Keras's, the same code), with shuffle=False and with shuffle=True
(Keras shuffles the order of the batches with Python's ``random``: the same seed, the same
order), and array-likes Keras adapts (Python lists of numbers, labels of shape (N,) against an
(N, 1) output)."""

import random

import numpy as np
import pytest

import scratchnet
from keras_impl.setup import keras
from parity_tests.test_fit_options import RTOL, data, pair
from parity_tests.test_multi_io import pair as multi_pair


def batches(n_batches, size, weighted, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        x, y = rng.normal(size=(size, 6)).astype("float32"), rng.integers(0, 4, size)
        sw = rng.uniform(0, 2, size).astype("float32")
        out.append((x, y, sw) if weighted else (x, y))
    return out


def each(made):
    """A Python generator over the batches (Keras 3.15 takes generators, not other iterators)."""
    yield from made


@pytest.mark.parametrize("weighted", [False, True])
def test_a_generator_with_steps_per_epoch_matches_keras(weighted):
    ours, theirs = pair()
    made = batches(9, 5, weighted)
    got = ours.fit(each(made), steps_per_epoch=3, epochs=3, verbose=0)
    want = theirs.fit(each(made), steps_per_epoch=3, epochs=3, verbose=0)
    assert list(got.history) == list(want.history)
    for key in want.history:
        np.testing.assert_allclose(got.history[key], want.history[key], rtol=RTOL, err_msg=key)
    x = np.concatenate([b[0] for b in made])
    np.testing.assert_allclose(
        ours.predict(each(made), steps=4, verbose=0),
        theirs.predict(each(made), steps=4, verbose=0),
        rtol=RTOL,
        atol=1e-6,
    )
    assert ours.predict(x[:10], verbose=0).shape == (10, 4)


def dataset(lib, made):
    class Batches(lib.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.epochs_ended = 0

        def __len__(self):
            return len(made)

        def __getitem__(self, index):
            return made[index]

        def on_epoch_end(self):
            self.epochs_ended += 1

    return Batches()


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_pydataset_matches_keras(shuffle):
    ours, theirs = pair()
    made = batches(6, 4, weighted=True, seed=1)
    val = dataset(keras, batches(2, 3, weighted=False, seed=2))
    val_ours = dataset(scratchnet, batches(2, 3, weighted=False, seed=2))
    random.seed(7)
    want = theirs.fit(dataset(keras, made), epochs=3, shuffle=shuffle, verbose=0,
                      validation_data=val)  # fmt: skip
    random.seed(7)
    ours_data = dataset(scratchnet, made)
    got = ours.fit(ours_data, epochs=3, shuffle=shuffle, verbose=0, validation_data=val_ours)
    assert ours_data.epochs_ended == 3
    assert list(got.history) == list(want.history)
    for key in want.history:
        np.testing.assert_allclose(got.history[key], want.history[key], rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(
        ours.evaluate(dataset(scratchnet, made), verbose=0),
        theirs.evaluate(dataset(keras, made), verbose=0),
        rtol=RTOL,
    )


def test_a_pydataset_of_two_inputs_and_outputs_as_dicts():
    ours, theirs = multi_pair()
    for model, lib in ((ours, scratchnet), (theirs, keras)):
        model.compile(
            optimizer=lib.optimizers.SGD(0.1),
            loss=["sparse_categorical_crossentropy", "binary_crossentropy"],
        )
    rng = np.random.default_rng(4)
    made = [
        (
            {"in_a": rng.normal(size=(5, 4)).astype("float32"),
             "in_b": rng.normal(size=(5, 3)).astype("float32")},
            {"out_a": rng.integers(0, 3, 5), "out_b": rng.integers(0, 2, (5, 1)).astype("float32")},
        )
        for _ in range(4)
    ]  # fmt: skip
    got = ours.fit(dataset(scratchnet, made), epochs=2, shuffle=False, verbose=0).history
    want = theirs.fit(dataset(keras, made), epochs=2, shuffle=False, verbose=0).history
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, err_msg=key)


def test_python_lists_and_labels_of_shape_n_are_adapted_as_keras_adapts_them():
    """(N,) labels meet an (N, 1) sigmoid output as in Keras. scratchnet also takes lists of
    Python numbers, which Keras 3.15 refuses ("Unrecognized data type": measured), with the
    numbers of the same data as arrays."""
    theirs = keras.models.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")]
    )
    ours = scratchnet.models.Sequential(
        [scratchnet.Input((3,)), scratchnet.layers.Dense(1, activation="sigmoid")]
    )
    ours.set_weights(theirs.get_weights())
    for model, lib in ((ours, scratchnet), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=["accuracy"])  # fmt: skip
    x = [[0.5, -1.0, 2.0], [1, 2, 3], [0.0, 0.1, -0.2], [3, 1, 0], [-1, -1, -1]]
    y = [1, 0, 1, 1, 0]
    fit = dict(batch_size=2, epochs=3, verbose=0, shuffle=False)
    got = ours.fit(x, y, **fit).history
    want = theirs.fit(np.array(x, "float32"), np.array(y), **fit).history
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(
        ours.evaluate(x, y, verbose=0, sample_weight=[1, 2, 0.5, 1, 1]),
        theirs.evaluate(
            np.array(x, "float32"),
            np.array(y),
            verbose=0,
            sample_weight=np.array([1, 2, 0.5, 1, 1]),
        ),  # fmt: skip
        rtol=RTOL,
    )


def test_stream_data_with_y_is_a_clear_error():
    ours, _ = pair()
    x, y = data(4)
    with pytest.raises(
        ValueError, match="generator or PyDataset.*y and sample_weight must be None"
    ):
        ours.fit(each([(x, y)]), y, steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        ours.fit(each([(x, y)]), validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match=r"must yield a tuple \(x,\), \(x, y\)"):
        ours.fit(each([(x, y, y, y)]), steps_per_epoch=1, verbose=0)
