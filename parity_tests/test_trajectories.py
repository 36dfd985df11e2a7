"""Training trajectories: each tutorial model trained by ``fit`` on both sides, step by step.

Same data, same starting weights (Keras's, copied), same Dropout seeds (so the same masks at every
step, drawn from the Philox stream by both libraries), ``shuffle=False``, 2 epochs with a
validation split: 104 steps of batch size 2, the last of each epoch a partial batch of 1 (so the
running mean must weigh batches by their size). We compare after every step the running loss and
accuracy that ``fit`` reports, the loss of the step itself (see ``keras_impl.training``), the
History (including ``val_`` keys), and the final weights. The Dropout layers stay in.
"""

import numpy as np
import pytest

import scratchnet
from keras_impl.architectures import ARCHITECTURES
from keras_impl.setup import keras, use_floatx
from keras_impl.training import compile_keras, record_fit
from parity_tests.compare import TRAJECTORY_F32_RTOL, TRAJECTORY_F64_RTOL, assert_parity
from parity_tests.runners import model_inputs, model_pair

# Each model with an optimizer in the spirit of its tutorial; together they cover all three.
OPTIMIZERS = {
    "seminar": ("Adam", {}),
    "zhou": ("Adam", {"learning_rate": 0.005}),
    "hanoi": ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    "torres": ("RMSprop", {"learning_rate": 0.01}),
    "convnet": ("Adam", {"amsgrad": True}),
}

N_SAMPLES = 129  # 103 to train on (each epoch ends with a batch of 1), 26 to validate on
VALIDATION_SPLIT = 0.2
BATCH_SIZE = 2
EPOCHS = 2  # 2 x 52 = 104 steps


def train_both(name, dtype, n_samples=N_SAMPLES, epochs=EPOCHS):
    with use_floatx(dtype):
        ours, theirs = model_pair(name, seed=11)
        opt_name, kwargs = OPTIMIZERS[name]
        compile_args = dict(loss="categorical_crossentropy", metrics=["accuracy"])
        compile_keras(
            theirs, optimizer=getattr(keras.optimizers, opt_name)(**kwargs), **compile_args
        )
        ours.compile(optimizer=getattr(scratchnet.optimizers, opt_name)(**kwargs), **compile_args)
        x, y = model_inputs(name, n_samples, seed=5, dtype=dtype)
        fit = dict(batch_size=BATCH_SIZE, epochs=epochs, validation_split=VALIDATION_SPLIT)
        theirs_record = record_fit(theirs, keras, x, y, **fit)
        ours_record = record_fit(ours, scratchnet, x, y, **fit)
    # Where each Dropout's seed stream stands after training: [seed, number of training calls].
    ours_record["dropout_states"] = [
        layer.seed_generator.state.tolist() for layer in ours.layers if hasattr(layer, "rate")
    ]
    theirs_record["dropout_states"] = [
        layer.seed_generator.state.numpy().tolist()
        for layer in theirs.layers
        if isinstance(layer, keras.layers.Dropout)
    ]
    return ours_record, theirs_record


@pytest.mark.parametrize("name", ("torres", "zhou", "convnet", "hanoi", "seminar"))
def test_float64_trajectory(name):
    ours, theirs = train_both(name, "float64")
    config = {"optimizer": OPTIMIZERS[name], "batch_size": BATCH_SIZE, "epochs": EPOCHS}
    steps = len(theirs["step_loss"])
    assert steps >= 100
    assert len(ours["step_loss"]) == steps, f"scratchnet ran {len(ours['step_loss'])} steps"

    def check(o, t, tensor, layer=None):
        assert_parity(
            o, t, rtol=TRAJECTORY_F64_RTOL, tensor=tensor, layer=layer, model=name, config=config
        )

    check(ours["step_loss"], theirs["step_loss"], "loss of each step")
    assert sorted(ours["running"]) == sorted(theirs["running"]), "different batch log keys"
    for key in theirs["running"]:
        check(ours["running"][key], theirs["running"][key], f"running '{key}' after each step")
    assert sorted(ours["history"]) == sorted(theirs["history"]), (
        f"History keys differ: scratchnet {sorted(ours['history'])}, "
        f"keras {sorted(theirs['history'])}"
    )
    for key in theirs["history"]:
        check(ours["history"][key], theirs["history"][key], f"History['{key}']")
    # Same seeds and the same number of training calls: both drew the same masks at every step.
    n_dropout = sum(cls == "Dropout" for cls, _ in ARCHITECTURES[name]["layers"])
    assert len(theirs["dropout_states"]) == n_dropout
    assert ours["dropout_states"] == theirs["dropout_states"]
    for i, (o, t) in enumerate(zip(ours["weights"], theirs["weights"], strict=True)):
        check(o, t, f"final weight #{i} {t.shape}")


def test_float32_trajectory_starts_out_equal():
    """float32: the first 10 steps agree within TRAJECTORY_F32_RTOL (later, rounding noise grows
    through training until trajectories legitimately drift apart)."""
    ours, theirs = train_both("convnet", "float32", n_samples=25, epochs=1)
    assert_parity(
        ours["step_loss"][:10],
        theirs["step_loss"][:10],
        rtol=TRAJECTORY_F32_RTOL,
        tensor="loss of each step",
        model="convnet",
        config={"dtype": "float32"},
    )
    np.testing.assert_equal(len(ours["step_loss"]), len(theirs["step_loss"]))
