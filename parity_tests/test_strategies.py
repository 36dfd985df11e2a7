"""Tests of the strategies themselves: every drawn case is valid; the interesting cases occur."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_impl.setup import keras
from parity_tests import strategies as S


@given(S.conv2d_cases())
def test_conv2d_cases_are_valid_and_keras_agrees_on_the_output_shape(case):
    kw = case.kwargs
    assert kw["strides"] == (1, 1) or kw["dilation_rate"] == (1, 1)
    expected = [
        S.conv_output_size(size, k, s, d, kw["padding"])
        for size, k, s, d in zip(
            case.input_shape[1:3],
            kw["kernel_size"],
            kw["strides"],
            kw["dilation_rate"],
            strict=True,
        )
    ]
    assert min(expected) >= 1
    got = case.build(keras).compute_output_shape(case.input_shape)
    assert tuple(got) == (case.input_shape[0], *expected, kw["filters"])


@given(S.max_pooling2d_cases())
def test_max_pooling2d_cases_are_valid_and_keras_agrees_on_the_output_shape(case):
    kw = case.kwargs
    strides = kw["strides"] or kw["pool_size"]
    expected = [
        S.pool_output_size(size, p, s, kw["padding"])
        for size, p, s in zip(case.input_shape[1:3], kw["pool_size"], strides, strict=True)
    ]
    assert min(expected) >= 1
    got = case.build(keras).compute_output_shape(case.input_shape)
    assert tuple(got) == (case.input_shape[0], *expected, case.input_shape[3])


def _reachable(strategy, predicate):
    """``predicate`` holds for some value of ``strategy`` (searched with a fixed budget)."""
    from hypothesis import find

    find(strategy, predicate, settings=settings(max_examples=1000, database=None))


def test_conv2d_cases_reach_the_interesting_configurations():
    _reachable(S.conv2d_cases(), lambda c: c.kwargs["dilation_rate"] != (1, 1))
    _reachable(S.conv2d_cases(), lambda c: max(c.kwargs["strides"]) == 3)
    _reachable(S.conv2d_cases(), lambda c: not c.kwargs["use_bias"])
    # 'same' with an odd total padding: the extra pixel goes bottom/right.
    _reachable(
        S.conv2d_cases(),
        lambda c: (
            c.kwargs["padding"] == "same"
            and S.same_padding(
                c.input_shape[1], c.kwargs["kernel_size"][0], c.kwargs["strides"][0]
            )[1]
            > S.same_padding(c.input_shape[1], c.kwargs["kernel_size"][0], c.kwargs["strides"][0])[
                0
            ]
        ),
    )
    for name in S.ACTIVATIONS:
        _reachable(S.conv2d_cases(), lambda c, name=name: c.kwargs["activation"] == name)


def test_max_pooling2d_cases_reach_overlapping_and_default_strides():
    def overlapping(c):
        s = c.kwargs["strides"]
        return s is not None and any(
            si < pi for si, pi in zip(s, c.kwargs["pool_size"], strict=True)
        )

    _reachable(S.max_pooling2d_cases(), overlapping)
    _reachable(S.max_pooling2d_cases(), lambda c: c.kwargs["strides"] is None)
    _reachable(S.max_pooling2d_cases(), lambda c: c.kwargs["padding"] == "same")


@given(st.data())
def test_ties_kind_has_ties_and_zeros_kind_has_exact_zeros(data):
    shape = (4, 4, 3)
    ties = data.draw(S.arrays(shape, kinds=("ties",)))
    assert len(np.unique(ties)) < ties.size  # 48 values from {0, 1, 2}
    zeros = data.draw(S.arrays(shape, kinds=("zeros",)))
    assert (zeros == 0).any()


@given(st.sampled_from(("float32", "float64")), st.data())
def test_arrays_have_the_requested_shape_and_dtype_and_replay(dtype, data):
    kind = data.draw(st.sampled_from(S.KINDS))
    seed = data.draw(st.integers(0, 2**32 - 1))
    a = S.make_array((2, 3), dtype, kind, seed)
    assert a.shape == (2, 3) and a.dtype == np.dtype(dtype)
    assert np.array_equal(a, S.make_array((2, 3), dtype, kind, seed))


@given(S.upstream_gradients((3, 5)))
def test_upstream_gradients_are_never_constant(dy):
    assert dy.shape == (3, 5)
    assert np.ptp(dy) > 0


@given(S.dropout_cases())
def test_dropout_cases_have_keras_seeds_and_valid_rates(case):
    assert 0.0 <= case.kwargs["rate"] < 1.0
    assert 1 <= case.kwargs["seed"] <= 10**9


def test_same_padding_matches_the_measured_tensorflow_splits():
    # The table in keras-behaviour.md section 1.3.
    assert S.same_padding(5, 3, 2) == (1, 1)
    assert S.same_padding(6, 3, 2) == (0, 1)
    assert S.same_padding(6, 2, 1) == (0, 1)
    assert S.same_padding(7, 4, 1) == (1, 2)
    assert S.same_padding(5, 2, 2) == (0, 1)
    assert S.same_padding(28, 3, 1) == (1, 1)
