"""Tests of the comparison helper: it passes equal arrays and explains the usual mistakes."""

import numpy as np
import pytest

from parity_tests.compare import (
    F32_RTOL,
    F64_RTOL,
    assert_parity,
    diagnose,
    parity_message,
    parity_stats,
    rtol_for,
)

rng = np.random.default_rng(0)


def test_equal_arrays_pass_and_tiny_float64_noise_passes():
    a = rng.standard_normal((3, 4))
    assert_parity(a, a, rtol=F64_RTOL, tensor="y")
    assert_parity(a * (1 + 1e-14), a, rtol=F64_RTOL, tensor="y")


def test_rtol_for_picks_the_dtype_tolerance():
    assert rtol_for("float64") == F64_RTOL and rtol_for(np.float32) == F32_RTOL


def test_stats_find_the_worst_index_and_both_values():
    keras = np.zeros((2, 3))
    keras[0, 0] = 4.0
    ours = keras.copy()
    ours[1, 2] = 1.0
    stats = parity_stats(ours, keras)
    assert stats["index"] == (1, 2)
    assert (stats["ours"], stats["theirs"]) == (1.0, 0.0)
    assert stats["rel"] == 0.25


def test_nan_counts_as_the_worst_error():
    ours = np.array([1.0, np.nan])
    assert parity_stats(ours, np.array([1.0, 2.0]))["index"] == (1,)
    with pytest.raises(AssertionError, match="NaN"):
        assert_parity(ours, np.array([1.0, 2.0]), rtol=F64_RTOL, tensor="y")


def test_message_names_model_layer_tensor_index_values_and_config():
    keras = rng.standard_normal((2, 2))
    ours = keras.copy()
    ours[1, 0] += 1.0
    msg = parity_message(
        ours,
        keras,
        rtol=F64_RTOL,
        tensor="dkernel",
        layer="dense (Dense)",
        model="torres",
        config={"units": 2},
    )
    for part in ("torres", "dense (Dense)", "dkernel", "(1, 0)", "units=2", "tolerance"):
        assert part in msg, part
    assert repr(float(ours[1, 0])) in msg and repr(float(keras[1, 0])) in msg


def test_hint_transposed():
    keras = rng.standard_normal((4, 4))
    assert any("transposed" in h for h in diagnose(keras.T, keras))
    assert any("transposed" in h for h in diagnose(np.zeros((3, 5)), np.zeros((5, 3))))


def test_hint_kernel_axes_swapped_and_flipped():
    kernel = rng.standard_normal((3, 3, 2, 2))
    assert any("C_in and C_out" in h for h in diagnose(kernel.swapaxes(2, 3), kernel))
    assert any("flipped" in h for h in diagnose(kernel[::-1, ::-1], kernel))


def test_hint_factor_of_n():
    keras = rng.standard_normal((5, 3))
    assert any("factor of 5" in h for h in diagnose(keras * 5, keras))
    assert any("factor of 32" in h for h in diagnose(keras / 32, keras))
    assert any("sign is flipped" in h for h in diagnose(-keras, keras))


def test_hint_padding_on_the_wrong_side():
    keras = rng.standard_normal((1, 6, 6, 2))
    ours = np.roll(keras, 1, axis=1)
    assert any("padding" in h and "top/bottom" in h for h in diagnose(ours, keras))
    ours = np.roll(keras, -1, axis=2)
    assert any("padding" in h and "left/right" in h for h in diagnose(ours, keras))


def test_hint_gradient_routed_to_another_tied_maximum():
    keras = np.array([[1.0, 0.0], [0.0, 0.0]])
    ours = np.array([[0.0, 1.0], [0.0, 0.0]])
    assert any("first maximum" in h for h in diagnose(ours, keras))


def test_no_false_hints_on_symmetric_arrays():
    # A 1x1 kernel is its own flip, and a constant array its own shift: no hint may claim those.
    keras = np.ones((1, 1, 2, 3))
    assert not any("flipped" in h for h in diagnose(keras * 1.5, keras))
    keras = np.ones((1, 4, 4, 1))
    assert not any("padding" in h for h in diagnose(keras * 2, keras))
