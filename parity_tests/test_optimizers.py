"""Every optimizer and option against Keras: k steps on identical gradients.

In float64 the update arithmetic is the same on both sides once scratchnet copies Keras's
float32 roundings of ``momentum`` and ``beta_1**t``/``beta_2**t`` (keras-behaviour.md section 5),
so the weights must agree to the last bit or within ``OPTIMIZER_F64_RTOL``. The optimizer state
(``variables``: iteration, learning rate, slots) must match too, in Keras's order.
"""

import numpy as np
import pytest
from hypothesis import given

from keras_impl.setup import use_floatx
from parity_tests import strategies as S
from parity_tests.compare import OPTIMIZER_F32_RTOL, OPTIMIZER_F64_RTOL, assert_parity
from parity_tests.runners import optimizer_pair

RTOL = {"float64": OPTIMIZER_F64_RTOL, "float32": OPTIMIZER_F32_RTOL}


@pytest.mark.parametrize("dtype", ("float64", "float32"))
@given(case=S.optimizer_cases(), data=S.st.data())
def test_optimizer_k_steps(dtype, case, data):
    name, kwargs = case
    variables, grads = data.draw(S.gradient_runs(dtype))
    config = {"optimizer": name, **kwargs, "steps": len(grads), "dtype": dtype}
    with use_floatx(dtype):
        ours, theirs, ours_opt, theirs_opt = optimizer_pair(name, kwargs, variables, grads)
    for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        assert o.dtype == t.dtype, f"variable {i}: dtype {o.dtype} != keras {t.dtype}"
        assert_parity(
            o,
            t,
            rtol=RTOL[dtype],
            tensor=f"variable {i} after {len(grads)} steps",
            layer=name,
            config=config,
        )
    assert ours_opt.iterations == int(theirs_opt.iterations.numpy()) == len(grads)
    ours_state = ours_opt.variables
    theirs_state = [v.numpy() for v in theirs_opt.variables]
    assert len(ours_state) == len(theirs_state), (
        f"{name}: scratchnet has {len(ours_state)} optimizer variables, Keras "
        f"{len(theirs_state)} ({[v.path for v in theirs_opt.variables]})"
    )
    for v, o, t in zip(theirs_opt.variables, ours_state, theirs_state, strict=True):
        assert np.shape(o) == np.shape(t), f"{v.path}: shape {np.shape(o)} != {np.shape(t)}"
        assert np.asarray(o).dtype == t.dtype, f"{v.path}: dtype {np.asarray(o).dtype} != {t.dtype}"
        assert_parity(
            o, t, rtol=RTOL[dtype], tensor=f"optimizer state {v.path}", layer=name, config=config
        )


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("SGD", {}),
        ("SGD", {"momentum": 0.9}),
        ("SGD", {"momentum": 0.9, "nesterov": True}),
        ("Adam", {}),
        ("Adam", {"amsgrad": True}),
        ("RMSprop", {}),
        ("RMSprop", {"centered": True}),
        ("RMSprop", {"momentum": 0.9}),
        ("RMSprop", {"momentum": 0.9, "centered": True}),
    ],
)
def test_float64_defaults_bit_exact_over_20_steps(name, kwargs):
    """The named options at Keras's defaults, 20 steps: bit for bit."""
    rng = np.random.default_rng(7)
    variables = [rng.standard_normal((5, 3)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(v.shape) for v in variables] for _ in range(20)]
    with use_floatx("float64"):
        ours, theirs, _, _ = optimizer_pair(name, kwargs, variables, grads)
    for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_array_equal(o, t, err_msg=f"{name} {kwargs}: variable {i}")
