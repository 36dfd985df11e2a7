"""Every optimizer, option and learning-rate schedule against real Keras.

* Trajectories: the weights after every step, from shared weights and gradients, for all nine
  optimizers with hypothesis-drawn hyper-parameters, options (clipping, weight decay, EMA, loss
  scale, gradient accumulation) and schedules; then the optimizer state in Keras's order.
* Schedules: their values at many steps, and their dtype (float32, as Keras computes them).
* Configs, a schedule of your own, ``.keras`` files both ways (state intact, training resumes
  alike), and ``fit`` with a schedule (History's loss).

What is bit-exact in float64, and why the rest is not (measured on Keras 3.15 / TF 2.21):

* All nine optimizers: the same operations in the same order with Keras's roundings, so the
  weights are equal to the bit (``assert_array_equal``). Adam's and AdamW's ``beta**t`` in
  float64 is the C library's pow, as TF's (NumPy's SIMD ``np.power`` was a last bit off in ~5%
  of steps); in float32 it stays ``np.power`` (TF's Eigen powf matches neither, and the
  tutorials' numbers are pinned to it).
* ``clipnorm`` / ``global_clipnorm`` sum squares in NumPy's order, not Eigen's: the norm can be
  one ulp off, so those runs are compared with ``OPTIMIZER_F64_RTOL``.
* Schedules that call cos, log or pow: TF's float32 versions are Eigen's, not correctly rounded;
  scratchnet rounds the C library's double result, one float32 ulp off in ~1-2% of steps.
  The schedule values are checked to within one ulp, and a run with such a schedule within
  ``SCHEDULE_RTOL``. PiecewiseConstantDecay and InverseTimeDecay are bit-exact.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet
from keras_impl.gradients import run_optimizer
from keras_impl.setup import COMPILE_KWARGS, keras, reset_seeds, use_floatx
from keras_impl.training import record_fit
from parity_tests import strategies as S
from parity_tests.compare import (
    OPTIMIZER_F32_RTOL,
    OPTIMIZER_F64_RTOL,
    TRAJECTORY_F64_RTOL,
    assert_parity,
)
from parity_tests.runners import optimizer_pair

EXACT_F64 = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion"}
EXACT_SCHEDULES = {"PiecewiseConstantDecay", "InverseTimeDecay"}

# A learning rate one float32 ulp (1.2e-7 relative) off in a few steps moves each update by that
# much; over <= 8 steps whose updates can be as large as the weights, 1e-5 is ample and still
# far below what a wrong formula gives (1e-3 and more).
SCHEDULE_RTOL = 1e-5
# float32 Adamax/Nadam: Eigen's float32 pow is an ulp off the C library's powf in ~15% of
# steps, and Nadam divides by 1 - u_product (near 0.1 early), which enlarges it tenfold.
POW_F32_RTOL = 1e-5


def tolerance(dtype, name, options, schedule):
    """0 for bit-exact, else the named tolerance that applies (see the module docstring)."""
    if schedule is not None and schedule[0] not in EXACT_SCHEDULES:
        return SCHEDULE_RTOL
    if dtype == "float32":
        return POW_F32_RTOL if name in ("Adamax", "Nadam") else OPTIMIZER_F32_RTOL
    norm_clip = options.get("clipnorm") or options.get("global_clipnorm")
    return 0 if name in EXACT_F64 and not norm_clip else OPTIMIZER_F64_RTOL


def assert_close(ours, theirs, rtol, **where):
    if rtol == 0:
        np.testing.assert_array_equal(ours, theirs, err_msg=str(where))
    else:
        assert_parity(ours, theirs, rtol=rtol, **where)


@pytest.mark.parametrize("dtype", ("float64", "float32"))
@settings(max_examples=30)
@given(
    case=st.one_of(S.optimizer_cases(), S.more_optimizer_cases()),
    options=S.optimizer_options(),
    schedule=st.none() | S.schedule_cases(),
    data=st.data(),
)
def test_optimizer_trajectories_with_options_and_schedules(dtype, case, options, schedule, data):
    name, kwargs = case
    kwargs = {**kwargs, **options}
    if schedule is not None:
        kwargs.pop("learning_rate")
    variables, grads = data.draw(S.gradient_runs(dtype, max_steps=8))
    config = {"optimizer": name, **kwargs, "schedule": schedule, "dtype": dtype}
    rtol = tolerance(dtype, name, options, schedule)
    with use_floatx(dtype):
        ours, theirs, ours_opt, theirs_opt = optimizer_pair(
            name, kwargs, variables, grads, schedule=schedule, history=True
        )
    for step, (o_step, t_step) in enumerate(zip(ours, theirs, strict=True)):
        for i, (o, t) in enumerate(zip(o_step, t_step, strict=True)):
            assert o.dtype == t.dtype
            assert_close(o, t, rtol, tensor=f"variable {i} after step {step + 1}", config=config)
    assert ours_opt.iterations == int(theirs_opt.iterations.numpy())
    theirs_state = theirs_opt.variables
    assert [np.shape(v) for v in ours_opt.variables] == [tuple(v.shape) for v in theirs_state], (
        f"{name}: optimizer variables differ from Keras's {[v.path for v in theirs_state]}"
    )
    for v, o in zip(theirs_state, ours_opt.variables, strict=True):
        assert np.asarray(o).dtype == v.numpy().dtype, v.path
        assert_close(np.asarray(o), v.numpy(), rtol, tensor=f"state {v.path}", config=config)


@pytest.mark.parametrize(
    "name, kwargs",
    [(name, {}) for name in S.MORE_OPTIMIZERS]
    + [("Lion", {"beta_1": 1.0}), ("Adagrad", {"initial_accumulator_value": 0.0})],
)
def test_float64_defaults_over_20_steps(name, kwargs):
    """Keras's defaults, 20 steps: bit for bit (AdamW: Adam's pow, see the docstring)."""
    rng = np.random.default_rng(11)
    variables = [rng.standard_normal((5, 3)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(v.shape) for v in variables] for _ in range(20)]
    with use_floatx("float64"):
        ours, theirs, _, _ = optimizer_pair(name, kwargs, variables, grads)
    rtol = 0 if name in EXACT_F64 else OPTIMIZER_F64_RTOL
    for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(o, t, rtol, tensor=f"variable {i}", layer=name, config=kwargs)


def ulps(a, b):
    """Distance in float32 units in the last place."""
    a, b = np.float32(a).view(np.int32).astype(np.int64), np.float32(b).view(np.int32)
    return abs(int(a) - int(b))


@settings(max_examples=25)
@given(case=S.schedule_cases())
def test_schedule_values_match_keras(case):
    name, kwargs = case
    ours = getattr(scratchnet.optimizers.schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    for step in range(30):
        o = ours(np.int64(step))
        t = theirs(keras.ops.convert_to_tensor(np.int64(step))).numpy()
        assert np.asarray(o).dtype == t.dtype == np.float32, (name, np.asarray(o).dtype, t.dtype)
        limit = 0 if name in EXACT_SCHEDULES else 1
        assert ulps(o, t) <= limit, f"{name}{kwargs} at step {step}: {o!r} vs Keras {t!r}"


def test_schedules_refuse_bad_arguments_as_keras():
    S_ = scratchnet.optimizers.schedules
    with pytest.raises(ValueError, match="decay_steps"):
        S_.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="1 less than"):
        S_.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(TypeError, match="schedule"):
        scratchnet.optimizers.SGD(S_.InverseTimeDecay(0.1, 2, 0.5)).learning_rate = 0.1


OPTION_CASES = [
    ("SGD", {"momentum": 0.9, "clipnorm": 1.0, "use_ema": True, "ema_overwrite_frequency": 5}),
    ("Adam", {"global_clipnorm": 2.0, "weight_decay": 0.01}),
    ("AdamW", {"clipvalue": 0.5, "gradient_accumulation_steps": 4}),
    ("Adagrad", {"loss_scale_factor": 128.0}),
    ("Adadelta", {}),
    ("Adamax", {"use_ema": True, "ema_momentum": 0.9}),
    ("Nadam", {}),
    ("Lion", {"weight_decay": 0.1}),
    ("RMSprop", {"centered": True}),
]


@pytest.mark.parametrize("name, kwargs", OPTION_CASES)
@pytest.mark.parametrize(
    "schedule",
    [
        None,
        (
            "CosineDecay",
            {
                "initial_learning_rate": 0.0,
                "decay_steps": 10,
                "warmup_target": 0.1,
                "warmup_steps": 3,
            },
        ),
    ],
)
def test_configs_are_keras_configs_both_ways(name, kwargs, schedule):
    def make(lib):
        args = dict(kwargs)
        if schedule is not None:
            args["learning_rate"] = getattr(lib.optimizers.schedules, schedule[0])(**schedule[1])
        return getattr(lib.optimizers, name)(**args)

    ours, theirs = make(scratchnet).get_config(), make(keras).get_config()
    ours.pop("name"), theirs.pop("name")  # Keras numbers its names (adam, adam_1, ...)
    assert ours == theirs
    again = getattr(scratchnet.optimizers, name).from_config(theirs)
    assert {k: v for k, v in again.get_config().items() if k != "name"} == theirs


class Reciprocal(scratchnet.optimizers.schedules.LearningRateSchedule):
    """A user's schedule: lr0 / (step + 1) in float32, the same formula on both sides."""

    def __init__(self, lr0):
        self.lr0 = lr0

    def __call__(self, step):
        return self.lr0 / (np.float32(step) + 1)

    def get_config(self):
        return {"lr0": self.lr0}


class KerasReciprocal(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, lr0):
        self.lr0 = lr0

    def __call__(self, step):
        return self.lr0 / (keras.ops.cast(step, "float32") + 1)

    def get_config(self):
        return {"lr0": self.lr0}


def small_model(lib):
    return lib.Sequential(
        [lib.Input((4,)), lib.layers.Dense(5, activation="tanh"), lib.layers.Dense(3)]
    )


def xy(seed, n=16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), rng.standard_normal((n, 3))


def test_a_schedule_of_yours_trains_and_saves_as_in_keras(tmp_path):
    """The same subclass in both libraries: the same steps; and it survives a .keras file."""
    rng = np.random.default_rng(3)
    variables = [rng.standard_normal((3, 2))]
    grads = [[rng.standard_normal((3, 2))] for _ in range(5)]
    with use_floatx("float64"):
        theirs_opt = keras.optimizers.Adagrad(KerasReciprocal(0.5))
        theirs, _ = run_optimizer(theirs_opt, variables, grads)
        ours_opt = scratchnet.optimizers.Adagrad(Reciprocal(0.5))
        ours = [v.copy() for v in variables]
        for g in grads:
            ours_opt.apply(g, ours)
        np.testing.assert_array_equal(ours[0], theirs[0])

        model = small_model(scratchnet)
        model.compile(optimizer=scratchnet.optimizers.SGD(Reciprocal(0.3)), loss="mse")
        model.fit(*xy(0), batch_size=8, verbose=0)
        model.save(tmp_path / "mine.keras")
        with pytest.raises(ValueError, match="Reciprocal"):
            scratchnet.models.load_model(tmp_path / "mine.keras")
        loaded = scratchnet.models.load_model(
            tmp_path / "mine.keras", custom_objects={"Reciprocal": Reciprocal}
        )
        assert isinstance(loaded.optimizer._learning_rate, Reciprocal)
        assert loaded.optimizer._learning_rate.lr0 == 0.3 and loaded.optimizer.iterations == 2
        in_keras = keras.models.load_model(
            tmp_path / "mine.keras", custom_objects={"Reciprocal": KerasReciprocal}
        )
        assert int(in_keras.optimizer.iterations.numpy()) == 2
        x, y = xy(1)
        a = record_fit(loaded, scratchnet, x, y, batch_size=8)
        b = record_fit(in_keras, keras, x, y, batch_size=8)
        assert_parity(a["step_loss"], b["step_loss"], rtol=TRAJECTORY_F64_RTOL, tensor="loss")


FILE_CASES = {
    "nadam+cosine warm-up+ema+clipnorm": lambda lib: lib.optimizers.Nadam(
        lib.optimizers.schedules.CosineDecay(0.0, 6, warmup_target=0.05, warmup_steps=3),
        use_ema=True,
        ema_overwrite_frequency=4,
        clipnorm=1.0,
    ),
    "adamw+exponential+accumulation": lambda lib: lib.optimizers.AdamW(
        lib.optimizers.schedules.ExponentialDecay(0.02, 2, 0.5, staircase=True),
        gradient_accumulation_steps=2,
    ),
    "adadelta+piecewise+weight decay": lambda lib: lib.optimizers.Adadelta(
        lib.optimizers.schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1]),
        weight_decay=0.01,
    ),
}


def trained_with(lib, make_optimizer, seed=0):
    reset_seeds(seed)
    model = small_model(lib)
    model.compile(
        optimizer=make_optimizer(lib), loss="mse", **(COMPILE_KWARGS if lib is keras else {})
    )
    model.fit(*xy(0), batch_size=4, epochs=1, verbose=0, shuffle=False)
    return model


@pytest.mark.parametrize("case", sorted(FILE_CASES))
@pytest.mark.parametrize("direction", ["scratchnet->keras", "keras->scratchnet"])
def test_keras_files_keep_optimizer_schedule_and_state(case, direction, tmp_path):
    libs = (scratchnet, keras) if direction == "scratchnet->keras" else (keras, scratchnet)
    with use_floatx("float64"):
        saved = trained_with(libs[0], FILE_CASES[case])
        saved.save(tmp_path / "m.keras")
        loaded = libs[1].models.load_model(tmp_path / "m.keras")
        ours, theirs = (saved, loaded) if libs[0] is scratchnet else (loaded, saved)
        what = f"{case}, {direction}"
        assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__
        config_ours = {k: v for k, v in ours.optimizer.get_config().items() if k != "name"}
        config_theirs = {k: v for k, v in theirs.optimizer.get_config().items() if k != "name"}
        assert config_ours == config_theirs, what
        k_vars = [v.numpy() for v in theirs.optimizer.variables]
        assert len(ours.optimizer.variables) == len(k_vars), what
        for i, (a, b) in enumerate(zip(ours.optimizer.variables, k_vars)):
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: optimizer variable {i}")
        x, y = xy(1)
        a = record_fit(ours, scratchnet, x, y, batch_size=4)
        b = record_fit(theirs, keras, x, y, batch_size=4)
        rtol = SCHEDULE_RTOL if "cosine" in case or "exponential" in case else TRAJECTORY_F64_RTOL
        assert_parity(a["step_loss"], b["step_loss"], rtol=rtol, tensor="step losses", model=what)
        for i, (u, v) in enumerate(zip(a["weights"], b["weights"])):
            assert_parity(u, v, rtol=rtol, tensor=f"weight {i} after resuming", model=what)


@pytest.mark.parametrize("dtype", ("float64", "float32"))
def test_fit_with_a_schedule_history_matches_keras(dtype):
    """Two epochs of SGD with InverseTimeDecay and EMA: History's loss and the final weights
    (which fit replaces by their moving average at the end, in both libraries)."""
    rtol = TRAJECTORY_F64_RTOL if dtype == "float64" else 1e-5
    x, y = xy(2, n=24)
    results = []
    with use_floatx(dtype):
        for lib in (scratchnet, keras):
            reset_seeds(0)
            model = small_model(lib)
            schedule = lib.optimizers.schedules.InverseTimeDecay(0.2, 2, 0.5)
            model.compile(
                optimizer=lib.optimizers.SGD(schedule, momentum=0.5, use_ema=True),
                loss="mse",
                **(COMPILE_KWARGS if lib is keras else {}),
            )
            if lib is keras:
                model.set_weights(results[0]["initial"])
            initial = [np.array(w) for w in model.get_weights()]
            record = record_fit(model, lib, x, y, batch_size=5, epochs=2)
            results.append({**record, "initial": initial})
    ours, theirs = results
    assert sorted(ours["history"]) == sorted(theirs["history"]) == ["loss"]
    assert_parity(ours["history"]["loss"], theirs["history"]["loss"], rtol=rtol, tensor="loss")
    for i, (a, b) in enumerate(zip(ours["weights"], theirs["weights"])):
        assert_parity(a, b, rtol=rtol, tensor=f"weight {i} (EMA) after fit")
