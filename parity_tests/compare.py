"""The one place where scratchnet's numbers are compared with Keras's, and failures explained.

Every parity test ends in ``assert_parity(ours, keras_value, ...)``. When the arrays differ by more
than the tolerance, the message says, in words a learner can act on: which model and layer, which
tensor (``y``, ``dx``, ``dkernel``, ``dbias``, ...), the worst index with both values, the config,
and a hint when the difference has a recognisable shape (transposed, off by a constant factor,
shifted by one pixel, flipped kernel, gradient routed to the wrong max, sign flipped).

Relative error here is normwise: ``max_i |ours_i - keras_i| / max_j |keras_j|``. Element-wise
relative error would explode on entries that are zero on one side by cancellation (a relu
gradient, a bias that sums to almost nothing), while the normwise one still catches a single
wrong entry of the size of the array's values.

Example:
    >>> import numpy as np
    >>> assert_parity(np.ones(3), np.ones(3), rtol=F64_RTOL, tensor="y")
    >>> parity_stats(np.array([1.0, 2.0]), np.array([1.0, 2.5]))["max_abs"]
    0.5
"""

import numpy as np

# ---------------------------------------------------------------------------------- tolerances

# float64 forward and backward of layers and models. TensorFlow and NumPy/numba add the same terms
# in different orders; each sum of K terms can move by about K ulps (K up to ~1e4 here, ulp
# 1.1e-16). 1e-10 leaves two orders of magnitude of room and still catches any real bug, which
# moves results by 1e-3 or more.
F64_RTOL = 1e-10

# float32 forward and backward. Same argument with ulp 6e-8: a sum of ~1e3 terms is good to about
# 1e-5; a deep model's gradients compound several such steps. Any real bug is far above 1e-4.
F32_RTOL = 1e-4

# float64 optimizer updates from identical gradients. Once the float32 roundings of momentum and
# beta are copied (keras-behaviour.md section 5), the update is the same arithmetic in the same
# order, so only the last bit may differ (a fused multiply-add, a pow on another libm).
OPTIMIZER_F64_RTOL = 1e-15

# float32 optimizer updates: the same arithmetic in float32 (observed bit-exact); 1e-6 is a few
# float32 ulps of room for a different pow or sqrt.
OPTIMIZER_F32_RTOL = 1e-6

# float64 training trajectories after >= 100 steps. Each step's gradient carries ~1e-15 relative
# noise from summation order; training is a mildly chaotic map that amplifies it, and 100 steps
# of it stay below 1e-8 by a wide margin on these models.
TRAJECTORY_F64_RTOL = 1e-8

# float32 trajectories: only the first few steps are compared, because float32 rounding noise
# (1e-7) grows through training until trajectories legitimately diverge.
TRAJECTORY_F32_RTOL = 1e-3


# Gradients are compared relative to at least GRADIENT_FLOOR times the size of the upstream
# gradient (see ``assert_parity``'s ``floor``): one thousandth, far above saturation noise and far
# below any mistake in a backward rule.
GRADIENT_FLOOR = 1e-3


# Loss values are compared relative to at least 1. A cross-entropy is a difference of logs of
# numbers near 1 (log(sum exp) - z_y); each log is rounded relative to its argument, about 1, not
# relative to the small difference. In float32 a loss of 1e-5 legitimately carries 1 ulp of 1
# (1.2e-7) of error, which relative to the loss itself would be 1e-2.
LOSS_FLOOR = 1.0


def rtol_for(dtype):
    """The forward/backward tolerance for ``dtype`` (``F64_RTOL`` or ``F32_RTOL``)."""
    return F64_RTOL if np.dtype(dtype) == np.float64 else F32_RTOL


# ---------------------------------------------------------------------------------- numbers


def parity_stats(ours, theirs, floor=0.0):
    """Error statistics of ``ours`` against the reference ``theirs`` (arrays of the same shape).

    Args:
        floor: the smallest scale to divide by (see ``assert_parity``).

    Returns:
        dict with ``max_abs`` (largest absolute difference), ``rel`` (``max_abs`` divided by the
        largest ``|theirs|`` or ``floor`` if larger; equal to ``max_abs`` when both are 0),
        ``index`` (the worst position, a tuple), ``ours`` and ``theirs`` (the values there).
    """
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.size == 0:
        return {"max_abs": 0.0, "rel": 0.0, "index": (), "ours": None, "theirs": None}
    diff = np.abs(ours - theirs)
    diff = np.where(np.isnan(diff), np.inf, diff)  # a NaN on either side is the worst error
    flat = int(np.argmax(diff))
    index = tuple(int(i) for i in np.unravel_index(flat, ours.shape))
    max_abs = float(diff.flat[flat])
    scale = float(np.max(np.abs(theirs))) if np.isfinite(theirs).all() else np.inf
    scale = max(scale, floor)
    rel = max_abs / scale if scale > 0 else max_abs
    return {
        "max_abs": max_abs,
        "rel": float(rel),
        "index": index,
        "ours": float(ours.flat[flat]),
        "theirs": float(theirs.flat[flat]),
    }


# ---------------------------------------------------------------------------------- hints


def _close(a, b, rtol=1e-6):
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b))), 1e-300) if b.size else 1.0
    return bool(np.max(np.abs(a - b)) <= rtol * scale)


def _matches(ours, theirs, transformed):
    """``ours`` equals ``transformed`` (a rearranged ``theirs``) and the rearrangement mattered."""
    return _close(ours, transformed) and not _close(theirs, transformed)


def diagnose(ours, theirs):
    """Hints for recognisable mistakes that would turn ``theirs`` into ``ours``.

    Args:
        ours: scratchnet's array.
        theirs: Keras's array.

    Returns:
        list of sentences (empty when no pattern fits).
    """
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        if ours.size == theirs.size and sorted(ours.shape) == sorted(theirs.shape):
            return [
                f"the shapes {ours.shape} and {theirs.shape} are a permutation of each other: "
                "the array looks transposed, or in NCHW instead of NHWC layout."
            ]
        return [f"the shapes differ: scratchnet {ours.shape}, keras {theirs.shape}."]
    hints = []
    if np.isnan(ours).any() and not np.isnan(theirs).any():
        hints.append("scratchnet produced NaN where Keras did not (overflow in exp? log(0)?).")
        return hints
    if not np.any(theirs) or not np.isfinite(ours).all():
        return hints
    if ours.ndim == 2 and ours.shape[0] == ours.shape[1] and _matches(ours, theirs, theirs.T):
        hints.append("it looks transposed: scratchnet's value equals Keras's transpose.")
    if ours.ndim == 4 and ours.shape[2] == ours.shape[3]:
        if _matches(ours, theirs, theirs.swapaxes(2, 3)):
            hints.append("it looks transposed: the C_in and C_out axes of the kernel are swapped.")
    if ours.ndim == 4 and _matches(ours, theirs, theirs[::-1, ::-1]):
        hints.append(
            "the kernel looks flipped: this is a true convolution; Keras computes "
            "cross-correlation (no flip)."
        )
    if _matches(ours, theirs, -theirs):
        hints.append("the sign is flipped.")
    elif np.any(ours):
        factor = float(np.sum(ours * theirs) / np.sum(theirs * theirs))
        if abs(factor - 1) > 1e-6 and factor != 0 and _close(ours, factor * theirs):
            hints.append(_factor_hint(factor))
    if ours.ndim == 4:
        for axis, name in ((1, "top/bottom"), (2, "left/right")):
            inner = range(1, ours.shape[axis] - 1)
            for shift in (1, -1):
                shifted = np.take(np.roll(theirs, shift, axis=axis), inner, axis=axis)
                if shifted.size and _matches(
                    np.take(ours, inner, axis=axis), np.take(theirs, inner, axis=axis), shifted
                ):
                    hints.append(
                        f"it matches Keras shifted by one pixel along {name}: 'same' padding "
                        "split on the wrong side? TensorFlow puts the odd extra pixel at the "
                        "bottom/right (pad_top = total // 2)."
                    )
    if not hints and ours.size > 1 and np.isclose(ours.sum(), theirs.sum(), rtol=1e-9):
        moved = (ours != 0) != (theirs != 0)
        if moved.any():
            hints.append(
                "the totals agree but the non-zero entries sit at different positions: the "
                "gradient went to a different element. With max-pool ties Keras gives the whole "
                "gradient to the first maximum of the window in row-major (h, then w) order."
            )
    return hints


def _factor_hint(factor):
    for n in range(2, 65):
        if abs(factor - n) < 1e-6 * n:
            return (
                f"scratchnet is {n} times Keras: off by a factor of {n} (a missing 1/N average "
                "over the batch, or a sum counted once per window or class?)."
            )
        if abs(factor - 1 / n) < 1e-6 / n:
            return (
                f"scratchnet is 1/{n} of Keras: off by a factor of {n} (divided by the batch "
                "size or a count twice?)."
            )
    return f"scratchnet is {factor:.6g} times Keras everywhere: a constant scale factor is off."


# ---------------------------------------------------------------------------------- assertion


def _fmt_config(config):
    if config is None:
        return "-"
    if isinstance(config, dict):
        return ", ".join(f"{k}={v!r}" for k, v in config.items())
    return repr(config)


def parity_message(ours, theirs, *, rtol, tensor, layer=None, model=None, config=None, floor=0.0):
    """The failure text of ``assert_parity`` (``None`` when the arrays agree within ``rtol``)."""
    ours_a, theirs_a = np.asarray(ours), np.asarray(theirs)
    where = " / ".join(str(p) for p in (model, layer) if p) or "(standalone)"
    head = f"scratchnet and Keras disagree: {where}, tensor '{tensor}'"
    if ours_a.shape != theirs_a.shape:
        lines = [
            head,
            f"  shapes differ: scratchnet {ours_a.shape}, keras {theirs_a.shape}",
            f"  config: {_fmt_config(config)}",
        ]
        return "\n".join(lines + [f"  hint: {h}" for h in diagnose(ours_a, theirs_a)])
    stats = parity_stats(ours_a, theirs_a, floor)
    if stats["rel"] <= rtol:
        return None
    lines = [
        head + f" ({theirs_a.dtype}, shape {theirs_a.shape})",
        f"  worst index {stats['index']}: scratchnet = {stats['ours']!r}, "
        f"keras = {stats['theirs']!r}",
        f"  max abs error {stats['max_abs']:.3e}, relative error {stats['rel']:.3e} "
        f"> tolerance {rtol:.0e}",
        f"  config: {_fmt_config(config)}",
    ]
    return "\n".join(lines + [f"  hint: {h}" for h in diagnose(ours_a, theirs_a)])


def assert_parity(ours, theirs, *, rtol, tensor, layer=None, model=None, config=None, floor=0.0):
    """Assert scratchnet's ``ours`` equals Keras's ``theirs`` within normwise relative ``rtol``.

    Args:
        ours: scratchnet's array (or scalar).
        theirs: Keras's array, the reference.
        rtol: one of the named tolerances of this module.
        tensor: what the arrays are: ``"y"``, ``"dx"``, ``"dkernel"``, ``"loss"``, ...
        layer: the layer's name and class, e.g. ``"conv2d_1 (Conv2D)"``.
        model: the model's name, e.g. ``"convnet"``.
        config: the layer or test configuration, printed so the case can be rebuilt.
        floor: divide by at least this scale. For a gradient, pass ``GRADIENT_FLOOR * max|dy|``:
            where an activation saturates, ``dx`` can be a million times smaller than ``dy``,
            and there one ulp of ``y`` (``1 - y`` cancels) is a large part of ``dx``. Relative
            to the size of the gradient flowing in, such a difference is still rounding noise.

    Raises:
        AssertionError: with the explanation described in the module docstring.
    """
    message = parity_message(
        ours, theirs, rtol=rtol, tensor=tensor, layer=layer, model=model, config=config, floor=floor
    )
    if message is not None:
        raise AssertionError(message)
