"""A recurrent layer's returned states inside a model, against Keras on shared weights.

``output, *states = LSTM(4, return_state=True)(x)`` is one layer call with several output
tensors. In a Functional model each of them may feed other layers (or none), so backprop hands
the layer one gradient per output (zeros for an unused one) and runs backprop through time once.
Checked here, on hypothesis-drawn layers, flags and choices of which outputs are used:

* predictions, and the gradient of every weight (one SGD step with learning rate 1 gives
  ``w_before - w_after = dL/dw``) under a random upstream gradient (MSE to random targets);
* three more training steps (the trajectory), in float64;
* ``summary()`` (Keras prints ``[(None, 5, 4), (None, 4), (None, 4)]`` and ``lstm[0][2]``);
* ``.keras`` files both ways (the graph refers to the states as ``[layer, 0, index]``);
* the same model written as a subclassed model, whose ``call`` unpacks the states.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from parity_tests.compare import TRAJECTORY_F64_RTOL, assert_parity

CLASSES = ("SimpleRNN", "LSTM", "GRU")
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}


@st.composite
def state_models(draw):
    """Strategy: (layer class, its kwargs, which of its outputs the head reads, T, D)."""
    name = draw(st.sampled_from(CLASSES))
    kwargs = dict(
        units=draw(st.integers(1, 4)),
        return_sequences=draw(st.booleans()),
        go_backwards=draw(st.booleans()),
        return_state=True,
    )
    if name == "GRU":
        kwargs["reset_after"] = draw(st.booleans())
    count = 1 + STATES[name]
    used = draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=count, unique=True))
    return name, kwargs, sorted(used), draw(st.integers(1, 4)), draw(st.integers(1, 3))


def build(lib, name, kwargs, used, T, D):
    """Input -> recurrent layer (return_state) -> the used outputs, flattened, joined -> Dense."""
    L = lib.layers
    x = lib.Input((T, D))
    outputs = getattr(L, name)(**kwargs)(x)
    pieces = [L.Flatten()(outputs[i]) if outputs[i].ndim == 3 else outputs[i] for i in used]
    joined = pieces[0] if len(pieces) == 1 else L.Concatenate()(pieces)
    return lib.Model(x, L.Dense(2)(joined))


def compiled_pair(name, kwargs, used, T, D, learning_rate):
    reset_seeds(3)
    theirs = build(keras, name, kwargs, used, T, D)
    ours = build(scratchnet, name, kwargs, used, T, D)
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse", **COMPILE_KWARGS)
    ours.compile(optimizer=scratchnet.optimizers.SGD(learning_rate), loss="mse")
    return ours, theirs


@settings(max_examples=15, deadline=None)
@given(case=state_models(), seed=st.integers(0, 2**16))
def test_returned_states_feed_a_model_and_train_like_keras(case, seed):
    name, kwargs, used, T, D = case
    config = {"layer": name, **kwargs, "used outputs": used}
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((3, T, D)), rng.standard_normal((3, 2))
    with use_floatx("float64"):
        ours, theirs = compiled_pair(name, kwargs, used, T, D, learning_rate=1.0)
        assert_parity(
            ours.predict(x, verbose=0),
            theirs.predict(x, verbose=0),
            rtol=1e-12,
            tensor="predict",
            layer=name,
            config=config,
        )
        before = theirs.get_weights()
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
        for b, o, t, w in zip(before, ours.get_weights(), theirs.get_weights(), theirs.weights):
            # SGD with learning rate 1: the step is the gradient
            assert_parity(b - o, b - t, rtol=1e-9, tensor=f"d {w.path}", layer=name, config=config)
        for step in range(3):
            ours.reset_metrics()  # Keras 3.15's train_on_batch resets them itself
            o_loss, t_loss = float(ours.train_on_batch(x, y)), float(theirs.train_on_batch(x, y))
            assert abs(o_loss - t_loss) <= TRAJECTORY_F64_RTOL * max(1.0, abs(t_loss)), step


def summary_text(model):
    lines = []
    model.summary(line_length=80, print_fn=lambda line, line_break=None: lines.append(line))
    return "".join(lines).rstrip()


def test_summary_lists_every_output_and_the_index_each_layer_reads():
    kwargs = dict(units=4, return_sequences=True, return_state=True)
    keras.utils.clear_session()
    theirs = build(keras, "LSTM", kwargs, [0, 2], 5, 3)
    scratchnet.utils.clear_session()
    ours = build(scratchnet, "LSTM", kwargs, [0, 2], 5, 3)
    assert "lstm[0][2]" in summary_text(ours)
    assert summary_text(ours) == summary_text(theirs)


@pytest.mark.parametrize("name, used", [("LSTM", [1, 2]), ("GRU", [0, 1]), ("SimpleRNN", [1])])
def test_keras_files_with_returned_states_move_both_ways(name, used, tmp_path):
    kwargs = dict(units=3, return_state=True)
    x = np.random.default_rng(0).standard_normal((4, 5, 2)).astype("float32")
    with use_floatx("float32"):
        reset_seeds(0)
        theirs = build(keras, name, kwargs, used, 5, 2)
        theirs.save(tmp_path / "theirs.keras")
        ours = scratchnet.saving.load_model(tmp_path / "theirs.keras")
        expected = theirs.predict(x, verbose=0)
        assert_parity(ours.predict(x, verbose=0), expected, rtol=1e-5, tensor="y", layer=name)
        ours.save(tmp_path / "ours.keras")
        again = keras.saving.load_model(tmp_path / "ours.keras")
        assert_parity(again.predict(x, verbose=0), expected, rtol=1e-5, tensor="y", layer=name)


def subclassed(lib):
    class StatesModel(lib.Model):
        """An LSTM whose final cell state c_T and output feed the head; h_T is unused."""

        def __init__(self):
            super().__init__()
            self.lstm = lib.layers.LSTM(3, return_state=True)
            self.head = lib.layers.Dense(2)

        def call(self, x):
            output, _, c = self.lstm(x)
            return self.head(lib.ops.concatenate([output, c], axis=-1))

    return StatesModel()


def test_a_subclassed_model_unpacking_the_states_trains_like_keras():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 2))
    with use_floatx("float64"):
        reset_seeds(1)
        theirs, ours = subclassed(keras), subclassed(scratchnet)
        theirs(x[:1])
        ours(x[:1])
        ours.set_weights(theirs.get_weights())
        theirs.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", **COMPILE_KWARGS)
        ours.compile(optimizer=scratchnet.optimizers.SGD(1.0), loss="mse")
        before = theirs.get_weights()
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
        for b, o, t, w in zip(before, ours.get_weights(), theirs.get_weights(), theirs.weights):
            assert_parity(b - o, b - t, rtol=1e-9, tensor=f"d {w.path}", layer="LSTM")
