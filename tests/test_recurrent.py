"""SimpleRNN, LSTM and GRU: backprop through time against finite differences (float64), shapes,
the returned states and their gradients, and the errors for what is not supported."""

import numpy as np
import pytest

from scratchnet.layers.recurrent import GRU, LSTM, SimpleRNN
from scratchnet.layers.recurrent_base import _PendingOrthogonal

CONFIGS = [
    (SimpleRNN, {}),
    (SimpleRNN, {"activation": "sigmoid", "use_bias": False, "go_backwards": True}),
    (SimpleRNN, {"return_sequences": True}),
    (LSTM, {}),
    (LSTM, {"return_sequences": True, "go_backwards": True}),
    (LSTM, {"use_bias": False, "unit_forget_bias": False, "activation": "sigmoid"}),
    (GRU, {}),
    (GRU, {"return_sequences": True, "reset_after": False}),
    (GRU, {"reset_after": False, "go_backwards": True, "recurrent_activation": "tanh"}),
    (GRU, {"use_bias": False, "return_sequences": True}),
]


def _ids(config):
    cls, kwargs = config
    return cls.__name__ + "".join(f"-{k}={v}" for k, v in kwargs.items())


def _randomize(layer, rng):
    """Random weights of a useful size: not saturated, biases not zero."""
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("config", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_backprop_through_time_matches_finite_differences(config, float64, finite_differences):
    cls, kwargs = config
    rng = np.random.default_rng(0)
    layer = cls(3, **kwargs)
    x = rng.standard_normal((2, 4, 3))
    layer.build(x.shape)
    _randomize(layer, rng)
    finite_differences(layer, x, rng)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_gradients_of_the_returned_states(cls, float64):
    """With return_state, backward takes [d output, d h_T, (d c_T)]; check all against
    finite differences of L = sum(output * dy) + sum(state * dstate)."""
    rng = np.random.default_rng(1)
    layer = cls(2, return_state=True, return_sequences=True)
    x = rng.standard_normal((2, 3, 2))
    layer.build(x.shape)
    _randomize(layer, rng)
    outs = layer(x, training=True)
    assert len(outs) == 1 + layer.state_size
    douts = [rng.standard_normal(o.shape) for o in outs]
    dx = layer.backward(douts)

    def loss():
        return sum(float(np.sum(o * d)) for o, d in zip(layer(x), douts))

    eps = 1e-6
    checks = {"dx": (dx, x)}
    checks.update({f"d{k}": (layer.grads[k], p) for k, p in layer.params.items()})
    for name, (analytic, array) in checks.items():
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = loss()
            array[index] = saved - eps
            down = loss()
            array[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_a_state_that_does_not_reach_the_loss_may_be_none(float64):
    rng = np.random.default_rng(2)
    layer = LSTM(2, return_state=True)
    x = rng.standard_normal((1, 3, 2))
    out, h, c = layer(x, training=True)
    dy = rng.standard_normal(out.shape)
    dx_none = layer.backward([dy, None, None])
    layer(x, training=True)
    np.testing.assert_array_equal(dx_none, layer.backward(dy))


@pytest.mark.parametrize(
    "cls, kwargs, weights",
    [
        (SimpleRNN, {}, [(4, 3), (3, 3), (3,)]),
        (LSTM, {}, [(4, 12), (3, 12), (12,)]),
        (GRU, {}, [(4, 9), (3, 9), (2, 9)]),
        (GRU, {"reset_after": False}, [(4, 9), (3, 9), (9,)]),
        (GRU, {"use_bias": False}, [(4, 9), (3, 9)]),
    ],
)
def test_weight_shapes_and_output_shapes(cls, kwargs, weights):
    layer = cls(3, **kwargs)
    y = layer(np.ones((2, 5, 4)))
    assert [w.shape for w in layer.get_weights()] == weights
    assert y.shape == (2, 3) == layer.compute_output_shape((2, 5, 4))
    seq = cls(3, return_sequences=True, return_state=True, **kwargs)
    assert seq.compute_output_shape((None, 5, 4)) == [(None, 5, 3)] + [(None, 3)] * seq.state_size
    outs = seq(np.ones((2, 5, 4)))
    assert [o.shape for o in outs] == [(2, 5, 3)] + [(2, 3)] * seq.state_size


def test_lstm_forget_bias_starts_at_one():
    layer = LSTM(2)
    layer.build((None, 3, 1))
    np.testing.assert_array_equal(layer.params["bias"], [0, 0, 1, 1, 0, 0, 0, 0])


def test_the_last_output_of_a_sequence_is_the_final_state():
    layer = GRU(3, return_sequences=True, return_state=True, go_backwards=True)
    seq, h = layer(np.random.default_rng(3).standard_normal((2, 4, 2)))
    np.testing.assert_array_equal(seq[:, -1], h)


def test_a_pending_orthogonal_kernel_must_be_set_before_use():
    layer = LSTM(2, recurrent_initializer=_PendingOrthogonal(seed=5))
    layer.build((None, 3, 2))
    with pytest.raises(ValueError, match="set_weights"):
        layer(np.ones((1, 3, 2)))
    layer.set_weights([np.ones(w.shape) * 0.1 for w in layer.get_weights()])
    assert layer(np.ones((1, 3, 2))).shape == (1, 2)
    config = layer.get_config()["recurrent_initializer"]
    assert config["class_name"] == "Orthogonal" and config["config"] == {"gain": 1.0, "seed": 5}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dropout": 0.2}, "dropout=0.2 is not supported yet"),
        ({"recurrent_dropout": 0.1}, "recurrent_dropout=0.1 is not supported yet"),
        ({"units": 0}, "units must be a positive integer"),
        ({"stateful": True}, "stateful=True is not supported"),
        ({"recurrent_regularizer": "l5"}, "LSTM '.*': recurrent_regularizer: .*'l5'"),
        ({"use_cudnn": "yes"}, "use_cudnn must be"),
    ],
)
def test_clear_errors_for_unsupported_arguments(kwargs, match):
    kwargs = {"units": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        LSTM(**kwargs)


def test_clear_errors_for_masks_initial_states_and_shapes():
    layer = SimpleRNN(2)
    x = np.ones((1, 3, 2))
    with pytest.raises(ValueError, match="masking is not supported"):
        layer(x, mask=np.ones((1, 3), bool))
    with pytest.raises(ValueError, match="initial_state is not supported"):
        layer(x, initial_state=[np.zeros((1, 2))])
    with pytest.raises(ValueError, match=r"expects a 3-D input \(batch, timesteps, features\)"):
        layer(np.ones((3, 2)))


def test_a_built_layer_takes_sequences_of_any_length():
    layer = LSTM(2, return_sequences=True)
    assert layer(np.ones((1, 3, 2))).shape == (1, 3, 2)
    assert layer(np.ones((4, 7, 2))).shape == (4, 7, 2)


def test_need_dx_false_skips_dx_and_keeps_the_weight_gradients():
    rng = np.random.default_rng(4)
    layer = GRU(3, return_sequences=True)
    x = rng.standard_normal((2, 4, 3))
    dy = rng.standard_normal(layer(x, training=True).shape)
    assert layer.backward(dy) is not None
    full = {k: g.copy() for k, g in layer.grads.items()}
    layer(x, training=True)
    assert layer.backward(dy, need_dx=False) is None
    for k, g in full.items():
        np.testing.assert_array_equal(layer.grads[k], g, err_msg=k)


# -- the returned states in models ------------------------------------------------------------


def _states_model():
    from scratchnet import Input, Model, layers

    x = Input((5, 3))
    output, h, c = LSTM(4, return_state=True, name="lstm")(x)
    return Model(x, layers.Dense(2, name="head")(layers.Concatenate(name="join")([output, c])))


def test_a_call_with_several_outputs_is_one_node_of_the_tape():
    import scratchnet

    model = _states_model()
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    lines = scratchnet.utils.trace(model, x).splitlines()
    assert lines[0] == "1. lstm (LSTM): (2, 5, 3) -> (2, 4), (2, 4), (2, 4)"
    assert [line.split(" (")[0] for line in lines] == ["1. lstm", "2. join", "3. head"]


def test_a_gradient_reaching_only_the_cell_state_still_trains_the_lstm():
    """The head reads c_T alone: if backprop dropped a state's gradient, nothing would move."""
    import scratchnet
    from scratchnet import Input, Model, layers

    x = Input((5, 3))
    _, _, c = LSTM(4, return_state=True)(x)
    model = Model(x, layers.Dense(2)(c))
    model.compile(optimizer=scratchnet.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(1)
    xs, ys = rng.standard_normal((3, 5, 3)), rng.standard_normal((3, 2))
    before = [w.copy() for w in model.layers[0].get_weights()]
    model.train_on_batch(xs.astype("float32"), ys.astype("float32"))
    assert all(not np.allclose(b, a) for b, a in zip(before, model.layers[0].get_weights()))


@pytest.mark.parametrize("with_input", [True, False])
def test_sequential_refuses_a_layer_with_several_outputs(with_input):
    from scratchnet import Input, Sequential, layers

    first = [Input((5, 3))] if with_input else []
    model = Sequential(first)
    add = [LSTM(4, return_state=True, name="lstm"), layers.Dense(2)]
    with pytest.raises(ValueError, match=r"layer 'lstm' \(LSTM\) returns 3 tensors.*Functional"):
        for layer in add:
            model.add(layer)
        model.predict(np.zeros((2, 5, 3), "float32"), verbose=0)
