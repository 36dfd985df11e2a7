"""Run the same thing in scratchnet and in Keras and pair up the results.

The tests and ``python -m parity_tests.report`` both use these, so the report shows exactly the
numbers the tests check. Each runner returns ``{tensor name: (scratchnet value, keras value)}``.

Example:
    >>> import numpy as np
    >>> from parity_tests.strategies import LayerCase
    >>> case = LayerCase("Dense", {"units": 2}, (3, 4))
    >>> pairs = layer_pair(case, "float64", np.ones((3, 4)), np.arange(6.0).reshape(3, 2))
    >>> sorted(pairs)
    ['dbias', 'dkernel', 'dx', 'y']
"""

import numpy as np

import scratchnet
from keras_impl.architectures import ARCHITECTURES, build
from keras_impl.gradients import (
    layer_outputs_and_gradients,
    model_loss_and_gradients,
    model_outputs_and_gradients,
    run_optimizer,
)
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from keras_impl.training import record_fit
from keras_impl.transfer import copy_weights

from .compare import F64_RTOL, GRADIENT_FLOOR, TRAJECTORY_F64_RTOL, assert_parity
from .strategies import weights_for


def layer_name(layer):
    """``"conv2d_1 (Conv2D)"``: how messages name a layer."""
    return f"{layer.name} ({type(layer).__name__})"


def build_layer_pair(case, weight_seed=0):
    """Both layers of ``case``, built on its input shape, sharing random non-zero weights.

    Call inside ``use_floatx``. Returns ``(scratchnet layer, keras layer)``.
    """
    ours, theirs = case.build(scratchnet), case.build(keras)
    theirs.build(case.input_shape)
    ours.build(case.input_shape)
    shapes = [w.shape for w in theirs.get_weights()]
    if shapes:
        weights = weights_for(shapes, keras.config.floatx(), weight_seed)
        theirs.set_weights(weights)
        ours.set_weights(weights)
    return ours, theirs


def scratchnet_layer_step(layer, x, dy, training=True):
    """Forward then backward through one scratchnet layer; checks ``backward`` leaves ``dy`` alone.

    Returns:
        dict ``y``, ``dx`` and ``d<param>`` for each parameter gradient.
    """
    y = layer(x, training=training)
    dy_before = np.array(dy, copy=True)
    dx = layer.backward(dy)
    if not np.array_equal(dy, dy_before):
        raise AssertionError(f"{layer_name(layer)}.backward modified its argument dy in place.")
    out = {"y": y, "dx": dx}
    out.update({f"d{name}": g for name, g in layer.grads.items()})
    return out


def layer_pair(case, dtype, x, dy, weight_seed=0, training=True):
    """One layer forward and backward on both sides with shared weights.

    Args:
        case: a ``strategies.LayerCase``.
        dtype: "float32" or "float64".
        x: the input, shaped ``case.input_shape``.
        dy: the upstream gradient, shaped like the output.
        weight_seed: seed of the shared random weights.
        training: the ``training`` flag for both calls (Dropout).

    Returns:
        ``{"y": (ours, keras), "dx": ..., "dkernel": ..., "dbias": ...}`` (what the layer has).
    """
    with use_floatx(dtype):
        ours_layer, theirs_layer = build_layer_pair(case, weight_seed)
        x, dy = np.asarray(x, dtype), np.asarray(dy, dtype)
        theirs = layer_outputs_and_gradients(theirs_layer, x, dy, training=training)
        ours = scratchnet_layer_step(ours_layer, x, dy, training=training)
    theirs = {("y" if k == "y" else f"d{k}"): v for k, v in theirs.items()}
    return {k: (ours.get(k), theirs[k]) for k in theirs}


def dropout_seeds(name, base=1234):
    """``build`` overrides giving every Dropout of architecture ``name`` a fixed seed.

    With the same seed, scratchnet's Dropout draws the same masks as Keras's, call after call.
    """
    layers = ARCHITECTURES[name]["layers"]
    return {i: {"seed": base + i} for i, (cls, _) in enumerate(layers) if cls == "Dropout"}


def model_pair(name, seed=0):
    """Architecture ``name`` on both sides, Keras's initial weights copied into scratchnet, and
    the same Dropout seeds. Call inside ``use_floatx``. Returns ``(scratchnet, keras)`` models.
    """
    reset_seeds(seed)
    overrides = dropout_seeds(name, base=seed + 1)
    theirs = build(name, keras, overrides)
    ours = build(name, scratchnet, overrides)
    copy_weights(theirs, ours)
    return ours, theirs


def model_inputs(name, n, seed=0, dtype="float64"):
    """``n`` MNIST-shaped random images and one-hot labels for architecture ``name``.

    Pixels are in [0, 1), except for "hanoi", which its tutorial trains on raw 0-255 pixels (its
    first sigmoid saturates, which is part of what it teaches).
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, *ARCHITECTURES[name]["input_shape"]))
    x = (np.floor(x * 256) if name == "hanoi" else x).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, n)]
    return x, y


def model_gradient_pairs(name, dtype, n=4, seed=0):
    """Whole-model parity in training mode (Dropout active, same masks on both sides).

    Two passes on each side, in the same order so both Dropout streams advance alike:
    1. forward, then backward from a random ``dy`` on the softmax output (un-fused softmax);
    2. the cross-entropy training loss and its gradients (softmax fused with the loss).

    Returns:
        ``{tensor: (ours, keras)}``: ``y``, ``loss``, and per weight ``<layer>.d<weight>`` (pass 1)
        and ``<layer>.d<weight> (CE loss)`` (pass 2).
    """
    with use_floatx(dtype):
        ours, theirs = model_pair(name, seed)
        x, y_true = model_inputs(name, n, seed, dtype)
        dy = np.random.default_rng(seed + 1).standard_normal((n, 10)).astype(dtype)
        k_y, k_grads = model_outputs_and_gradients(theirs, x, dy, training=True)
        k_loss, k_loss_grads = model_loss_and_gradients(theirs, x, y_true, training=True)

        s_y = ours.forward(x, training=True)
        ours.backward(dy)
        s_grads = [np.array(g, copy=True) for g in ours.gradients()]
        s_loss, s_loss_grads = ours_loss_and_gradients(ours, x, y_true)
    pairs = {"y": (s_y, k_y), "loss": (s_loss, k_loss)}
    for (lname, wname), sg, kg, slg, klg in zip(
        _weight_labels(ours), s_grads, k_grads, s_loss_grads, k_loss_grads, strict=True
    ):
        pairs[f"{lname}.d{wname}"] = (sg, kg)
        pairs[f"{lname}.d{wname} (CE loss)"] = (slg, klg)
    return pairs


def ours_loss_and_gradients(model, x, y_true):
    """scratchnet's fused cross-entropy training loss and gradients (Dropout active).

    ``compute_loss_and_gradients`` needs a compiled model (the loss comes from ``compile``).
    """
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    loss, grads = model.compute_loss_and_gradients(x, y_true, training=True)
    return loss, [np.array(g, copy=True) for g in grads]


def _weight_labels(model):
    """(layer name, weight name) of each trainable weight (a BatchNormalization's moving
    statistics are not), in the order of ``model.gradients()``."""
    return [(layer_name(layer), v.key) for layer in model.layers for v in layer.trainable_weights]


def optimizer_pair(name, kwargs, variables, grads, schedule=None, history=False):
    """``k`` optimizer steps on both sides from the same variables with the same gradients.

    Args:
        name: the optimizer's class name in both libraries ("SGD", "Nadam", ...).
        kwargs: constructor arguments.
        variables: starting arrays; gradient steps ``grads[step][variable]``.
        schedule: ``(class name, kwargs)`` of a learning-rate schedule made in each library and
            passed as ``learning_rate``, or None.
        history: also return the variables after every step, ``[step][variable]``.

    Returns:
        ``(ours, theirs, ours optimizer, keras optimizer)``: the final variables on each side
        (with ``history``: ``(ours, theirs, ...)`` are the per-step lists instead).
    """

    def make(lib):
        args = dict(kwargs)
        if schedule is not None:
            args["learning_rate"] = getattr(lib.optimizers.schedules, schedule[0])(**schedule[1])
        return getattr(lib.optimizers, name)(**args)

    theirs_opt = make(keras)
    theirs, theirs_steps = run_optimizer(theirs_opt, variables, grads)
    ours_opt = make(scratchnet)
    ours = [np.array(v, copy=True) for v in variables]
    ours_steps = []
    for step in grads:
        ours_opt.apply([np.array(g, copy=True) for g in step], ours)
        ours_steps.append([v.copy() for v in ours])
    if history:
        return ours_steps, theirs_steps, ours_opt, theirs_opt
    return ours, theirs, ours_opt, theirs_opt


def assert_model_and_gradients_match(ours, theirs, x, y, name):
    """A model pair on the same weights (float64): ``predict``, the training forward pass and
    every weight gradient under a random upstream gradient, then the cross-entropy loss and its
    gradients (the training step's). The weights are named by Keras's paths in the messages."""
    assert_parity(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=F64_RTOL, tensor="y",
        model=name,
    )  # fmt: skip
    paths = [w.path for w in theirs.trainable_weights]
    dy = np.random.default_rng(1).standard_normal(y.shape)  # (N, classes), a random dL/dy
    k_y, k_grads = model_outputs_and_gradients(theirs, x, dy, training=True)
    s_y = ours.forward(x, training=True)
    ours.backward(dy)
    s_grads = [g.copy() for g in ours.gradients()]  # before the loss's pass replaces them
    assert_parity(s_y, k_y, rtol=F64_RTOL, tensor="y (training)", model=name)
    ours.compile(optimizer="sgd", loss="categorical_crossentropy")
    k_loss, k_loss_grads = model_loss_and_gradients(theirs, x, y, training=True)
    s_loss, s_loss_grads = ours.compute_loss_and_gradients(x, y, training=True)
    assert_parity(s_loss, k_loss, rtol=F64_RTOL, tensor="loss", model=name)
    for what, got, want in (("", s_grads, k_grads), (" (CE loss)", s_loss_grads, k_loss_grads)):
        for g_ours, g_theirs, path in zip(got, want, paths, strict=True):
            assert_parity(
                g_ours, g_theirs, rtol=F64_RTOL, tensor=f"d({path}){what}", model=name,
                floor=GRADIENT_FLOOR,
            )  # fmt: skip


def assert_training_matches(ours, theirs, x, y, name, optimizer):
    """Two epochs of ``fit`` (batch 8, Keras's compile defaults) from the same weights: the loss
    of every step and every weight afterwards, within the trajectory tolerance."""
    for model, extra in ((ours, {}), (theirs, COMPILE_KWARGS)):
        model.compile(
            optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"], **extra
        )
    r_ours = record_fit(ours, scratchnet, x, y, batch_size=8, epochs=2)
    r_theirs = record_fit(theirs, keras, x, y, batch_size=8, epochs=2)
    assert_parity(
        r_ours["step_loss"], r_theirs["step_loss"], rtol=TRAJECTORY_F64_RTOL,
        tensor="step losses", model=name,
    )  # fmt: skip
    for i, (a, b) in enumerate(zip(r_ours["weights"], r_theirs["weights"], strict=True)):
        assert_parity(
            a, b, rtol=TRAJECTORY_F64_RTOL, tensor=f"weight {i} after training", model=name
        )
