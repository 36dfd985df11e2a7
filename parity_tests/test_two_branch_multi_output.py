"""examples/two_branch_multi_output.py on both libraries: the same two-input, two-output model
(Keras's weights copied), trained briefly on the first MNIST images without shuffling; History
(every key, every epoch), evaluate and predict must agree."""

import numpy as np

import scratchnet
from examples import common
from examples import two_branch_multi_output as example
from keras_impl.setup import keras
from keras_impl.training import compile_keras

RTOL = 2e-4  # float32, ~20 steps of SGD with momentum: rounding only


def test_the_example_trains_the_same_on_both_libraries():
    (x_train, y_train), (x_test, y_test) = common.load_mnist()
    x, y = example.inputs(x_train[:300]), example.labels(y_train[:300])
    xt, yt = example.inputs(x_test[:100]), example.labels(y_test[:100])
    theirs, ours = example.build(keras), example.build(scratchnet)
    ours.set_weights(theirs.get_weights())
    example.compile_model(ours, scratchnet)
    compile_keras(
        theirs,
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=example.LOSS,
        loss_weights=example.LOSS_WEIGHTS,
        metrics=example.METRICS,
    )
    fit = dict(batch_size=example.BATCH_SIZE, epochs=2, validation_split=0.1, shuffle=False,
               verbose=0)  # fmt: skip
    got, want = ours.fit(x, y, **fit).history, theirs.fit(x, y, **fit).history
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, err_msg=key)
    got = ours.evaluate(xt, yt, verbose=0, return_dict=True)
    want = theirs.evaluate(xt, yt, verbose=0, return_dict=True)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=RTOL)
    for g, w in zip(ours.predict(xt, verbose=0), theirs.predict(xt, verbose=0)):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=1e-5)
