"""Gradient checking: is the backward pass I wrote right? The first tool to run on a new layer.

``check_gradients(layer, x)`` compares the gradient a backward pass computes (the *analytic*
gradient: a hand-written ``backward``, or autodiff through ``call``) with the gradient measured
by nudging each number a little and watching the output move (the *numeric* gradient).

Math:
    The fake loss. For a layer y = f(x, W) and a random dy of y's shape, L(x, W) = sum(y * dy)
    has dL/dy = dy, so ``layer.backward(dy)`` is exactly dL/dx and ``layer.grads`` holds dL/dW.
    dy is random, never all ones: with ones, a gradient summed over the wrong axis, sent to the
    wrong unit, or transposed can still come out right.

    Central differences. For every entry theta of x and of each weight,
        numeric = (L(theta + eps) - L(theta - eps)) / (2 eps) = dL/dtheta + O(eps^2)
    (one-sided differences leave an O(eps) error). The code computes it as
    sum((y_up - y_down) * dy) / (2 eps): the same number, with less cancellation.

    Why float64. Each L is rounded by about u |L| (the unit roundoff u is 1.1e-16 in float64,
    6e-8 in float32); divided by 2 eps = 2e-6 that becomes an error of about u |L| / eps in the
    numeric gradient: 1e-10 |L| in float64, but 0.06 |L| in float32, too noisy to tell a
    rounding from a bug.

    Pass or fail. A tensor passes when max |a - n| <= atol + rtol * max |n| over its checked
    entries (a analytic, n numeric); its relative error is max |a - n| / max |n|. Normwise, as
    in ``parity_tests/compare.py``: an entry-by-entry relative error explodes on entries that
    are zero by cancellation (a bias gradient summed over a batch), while this one still
    catches a single wrong entry as big as the tensor's values.

Policies:
    dtype: the check runs on a float64 twin: a ``copy.deepcopy`` of the layer or model with
        every layer's dtype and float weights made float64, under ``config.floatx()`` 'float64'
        (so constants that ``call`` makes, ``ops.ones`` or Python floats, are float64 too). This
        needs no ``get_config``, so it works for built-in layers and yours alike, and it never
        changes your layer or model: its weights, dtype, random state, whether it is built.
    randomness: scratchnet draws random numbers from ``scratchnet.random.SeedGenerator``s
        (Dropout's, for one). Their states are saved first and restored before every run, so
        every run draws the same numbers: Dropout keeps one fixed mask. A target whose output
        still changes between two runs on the same input (``np.random`` in ``call``) is refused
        with a ValueError.
    sampling: of a tensor with more than ``max_entries`` entries, ``max_entries`` are checked,
        drawn without replacement by ``numpy.random.default_rng(seed)``: the same ones each run.
    models: the check covers a model's trainable weights, not its input, since a model's
        backward does not compute dL/d(input) (no optimizer needs it). Check a layer for dx.
"""

import contextlib
import copy
import itertools
from dataclasses import dataclass, field

import numpy as np

from . import config
from .layers import calling
from .layers.base import Layer
from .ops.core import Tensor, convert_to_tensor, gradients, record_gradients
from .random import SeedGenerator


@dataclass
class TensorCheck:
    """One tensor's analytic and numeric gradients compared; ``index``, ``analytic`` and
    ``numeric`` describe the worst entry, ``indices`` are the flat indices checked."""

    tensor: str  # 'dx', 'dx[1]', 'kernel', 'bias', or 'dense_1/kernel' in a model
    owner: str  # the layer (or function) it belongs to: "layer 'dense' (Dense)"
    shape: tuple
    gradient_shape: tuple  # what backward gave: ``shape``, unless backward is wrong
    checked: int
    max_abs_error: float
    rel_error: float
    index: tuple
    analytic: float
    numeric: float
    passed: bool
    indices: np.ndarray = field(repr=False)
    analytic_values: np.ndarray = field(repr=False)  # (checked,) at ``indices``
    numeric_values: np.ndarray = field(repr=False)  # (checked,) at ``indices``

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class GradientReport:
    """What ``check_gradients`` found: one ``TensorCheck`` per tensor, printable as a table.
    ``report["kernel"]`` is one check; ``report.errors``: {tensor: worst relative error}."""

    subject: str  # "layer 'dense' (Dense)"
    tensors: list
    eps: float
    rtol: float
    atol: float

    @property
    def passed(self):
        return all(t.passed for t in self.tensors)

    @property
    def errors(self):
        return {t.tensor: t.rel_error for t in self.tensors}

    def __getitem__(self, tensor):
        for t in self.tensors:
            if t.tensor == tensor:
                return t
        raise KeyError(f"{tensor!r}: the tensors checked are {[t.tensor for t in self.tensors]}")

    def table(self):
        rows = [("tensor", "shape", "checked", "max abs error", "relative error", "")]
        rows += [
            (t.tensor, str(t.shape), f"{t.checked} of {t.size}", f"{t.max_abs_error:.1e}",
             f"{t.rel_error:.1e}", "ok" if t.passed else "FAILED")
            for t in self.tensors
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
        )

    def __str__(self):
        verdict = "passed" if self.passed else "FAILED"
        settings = f"eps={self.eps:g}, rtol={self.rtol:g}, atol={self.atol:g}"
        return (
            f"gradient check of {self.subject} in float64: {verdict} ({settings})\n{self.table()}"
        )


def check_gradients(
    target, *inputs, eps=1e-6, rtol=1e-5, atol=1e-8, seed=0, training=True, max_entries=200
):
    """Check a backward pass against central finite differences of L = sum(y * dy), in float64.

    Write a layer, then check it before anything else: a wrong gradient does not crash, it only
    makes training slow or hopeless, and that is much harder to trace back than this assertion.

    Args:
        target: a layer (built or not; built-in, or written with ``call`` and
            ``scratchnet.ops``), a model (compiled or not: its loss is not used), or a function
            of tensors written with ``scratchnet.ops``.
        *inputs: the arrays to call it on: ``check_gradients(layer, x)``, and for a merge layer
            or a function of several tensors ``check_gradients(add, a, b)`` (or ``[a, b]``).
        eps: the step of the central differences.
        rtol, atol: an entry passes when |analytic - numeric| <= atol + rtol * max |numeric|
            (the largest over the tensor's checked entries: see the module docstring).
        seed: seeds dy and the sampled entries; the same seed checks the same numbers.
        training: the mode of the numeric runs. The analytic pass is a training pass (backward
            needs what it caches), so with False a target whose modes differ (Dropout) is refused.
        max_entries: at most this many entries are checked per tensor, a fixed sample drawn with
            ``seed``; None checks every entry.

    Shapes:
        inputs: whatever the target takes; dy: the output's shape, drawn from N(0, 1).

    Math:
        dL/dtheta ~ (L(theta + eps) - L(theta - eps)) / (2 eps) with L = sum(y * dy), for each
        checked entry theta of every input and trainable weight (see the module docstring).

    Returns:
        GradientReport: the worst relative error per tensor ('dx', or 'dx[0]', 'dx[1]', ...;
        the weights by name); ``print(report)`` shows a table.

    Raises:
        AssertionError: a tensor fails; the message names the layer, the tensor, the worst index
            with both values, and a hint when the mistake has a recognisable shape.
        ValueError: the output changes between two runs on the same input (see "Policies").

    Example:
        >>> import numpy as np
        >>> from scratchnet import layers
        >>> x = np.random.default_rng(0).normal(size=(2, 4))
        >>> report = check_gradients(layers.Dense(3, activation="tanh"), x)
        >>> print(report)
        gradient check of layer 'dense...' (Dense) in float64: passed (eps=1e-06, rtol=1e-05, ...)
        tensor  shape   checked   max abs error  relative error
        dx      (2, 4)  8 of 8    ...  ok
        kernel  (4, 3)  12 of 12  ...  ok
        bias    (3,)    3 of 3    ...  ok
        >>> report.errors["kernel"] < 1e-8
        True
    """
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
        inputs = tuple(inputs[0])
    if not inputs:
        raise TypeError("check_gradients: give the inputs to call the target on, e.g. (layer, x).")
    rng = np.random.default_rng(seed)
    with _floatx_float64():
        subject = _make_subject(target, inputs, training)
        y = subject.run(record=True)  # the analytic pass: a training forward pass ...
        dy = rng.standard_normal(y.shape)  # (same shape as y), N(0, 1): never all ones
        analytic = subject.backward(dy)  # ... then backward: {tensor name: (owner, gradient)}
        _check_repeatable(subject, y, training)
        checks = []
        for name, array in subject.perturbable():
            owner, grad = analytic[name]
            indices = _sample(array.size, max_entries, rng)
            numeric = numeric_gradient(subject.run, array, indices, dy, eps)
            checks.append(_compare(name, owner, grad, array.shape, indices, numeric, rtol, atol))
    report = GradientReport(subject.name, checks, eps, rtol, atol)
    for check in checks:
        if not check.passed:
            raise AssertionError(_failure_message(report, check))
    return report


def numeric_gradient(run, array, indices, dy, eps):
    """Central differences of L = sum(run() * dy) with respect to some entries of ``array``.

    Args:
        run: evaluates the target, returning its output as a new float64 array.
        array: the input or weight to nudge, changed in place and restored.
        indices: (K,) flat indices of the entries of ``array`` to differentiate.
        dy: the upstream gradient, y's shape.
        eps: the step.

    Returns:
        (K,) float64: dL/d(array.flat[i]) for each i of ``indices``.
    """
    grad = np.empty(len(indices))  # (K,)
    for k, flat in enumerate(indices):
        index = np.unravel_index(flat, array.shape)
        saved = array[index]
        array[index] = saved + eps
        y_up = run()
        array[index] = saved - eps
        y_down = run()
        array[index] = saved  # exactly the old value: the next entry starts from the same point
        grad[k] = np.sum((y_up - y_down) * dy) / (2 * eps)
    return grad


# ----------------------------------------------------------------------------- the targets


class _LayerSubject:
    """A layer on its float64 twin: ``run`` calls it, ``backward`` is its backward pass."""

    gives_dx = True  # backward returns dL/d(each input)

    def __init__(self, layer, inputs, training):
        self.twin, self._generators = float64_twin(layer)
        self.name = _describe(layer)
        self.inputs, self.training = inputs, training

    def run(self, record=False):
        """The output as a new float64 array; ``record``: a training pass for ``backward``."""
        _restore(self._generators)
        x = self.inputs if len(self.inputs) > 1 else self.inputs[0]
        with calling.one_step():  # each run is one step: the sublayers may run once again
            y = self.twin(x, training=self.training or record)
        return np.array(y, dtype=np.float64)

    def backward(self, dy):
        """{tensor name: (its layer, its analytic gradient)}, inputs first, then weights."""
        dxs = self.twin.backward(dy)
        dxs = dxs if len(self.inputs) > 1 else [dxs]
        names = _input_names(self.inputs) if self.gives_dx else []
        found = {name: (self.name, dx) for name, dx in zip(names, dxs)}
        for v in self.twin.trainable_weights:
            found[_weight_name(v, self.twin)] = (_describe(v.owner), v.owner.grads.get(v.key))
        return found

    def perturbable(self):
        """(name, array) of every float input with a dx, then of every trainable weight."""
        names = _input_names(self.inputs) if self.gives_dx else []
        pairs = [(n, x) for n, x in zip(names, self.inputs) if x.dtype.kind == "f"]
        return pairs + [(_weight_name(v, self.twin), v.value) for v in self.twin.trainable_weights]


class _ModelSubject(_LayerSubject):
    """A model on its float64 twin: ``forward``, then ``backward`` (weights only, no dx)."""

    gives_dx = False

    def run(self, record=False):
        _restore(self._generators)
        y = self.twin.forward(self.inputs[0], training=self.training or record)
        return np.array(y, dtype=np.float64)


class _FunctionSubject:
    """A function of tensors: autodiff gives dL/d(each float input); there are no weights."""

    def __init__(self, fn, inputs):
        self.fn, self.inputs = fn, inputs
        self.name = f"function '{getattr(fn, '__name__', type(fn).__name__)}'"

    def run(self, record=False):
        with record_gradients(record):
            tensors = [Tensor(x, requires_grad=record and x.dtype.kind == "f") for x in self.inputs]
            out = convert_to_tensor(self.fn(*tensors))
        if record:
            self._graph = tensors, out  # what ``backward`` walks
        return np.array(out.value, dtype=np.float64)

    def backward(self, dy):
        tensors, out = self._graph
        grads = gradients(out, dy, tensors)  # None for an input the output does not depend on
        return {name: (self.name, g) for name, g in zip(_input_names(self.inputs), grads)}

    def perturbable(self):
        names = _input_names(self.inputs)
        return [(n, x) for n, x in zip(names, self.inputs) if x.dtype.kind == "f"]


def _make_subject(target, inputs, training):
    """The target with its inputs as float64 copies (the check nudges them in place).

    A built-in layer or a model casts any input to its float dtype, so integer inputs become
    float64 too; a layer written with ``call`` and a function keep integer inputs as integers
    (token ids, indices: they have no gradient and are not checked).
    """
    model = _is_model(target)  # (a model is a layer too: asked first)
    keeps_integers = not model and (target.writes_call() if isinstance(target, Layer) else True)
    arrays = [np.asarray(x.value if isinstance(x, Tensor) else x) for x in inputs]
    inputs = [
        x.copy() if keeps_integers and x.dtype.kind in "biu" else np.array(x, dtype=np.float64)
        for x in arrays
    ]
    if model:
        if len(inputs) != 1:
            raise TypeError(f"check_gradients: a model takes one input array, got {len(inputs)}.")
        return _ModelSubject(target, inputs, training)
    if isinstance(target, Layer):
        return _LayerSubject(target, inputs, training)
    if callable(target):
        return _FunctionSubject(target, inputs)
    raise TypeError(
        f"check_gradients: expected a layer, a model or a function of tensors, got "
        f"{type(target).__name__}."
    )


def _check_repeatable(subject, y, training):
    """Refuse a target whose output changes from run to run: finite differences need a function.

    ``y`` is the output of the analytic (training) pass; the numeric runs use ``training``.
    """
    again = subject.run()
    if _close(again, y, tol=1e-12):
        return
    if not training and _close(subject.run(), again, tol=1e-12):
        raise ValueError(
            f"check_gradients: {subject.name} computes something else in inference than in "
            "training (Dropout, for one), and backward follows the training forward pass only. "
            "Check it with training=True (random streams are replayed, so Dropout keeps one "
            "fixed mask)."
        )
    raise ValueError(
        f"check_gradients: {subject.name} gives a different output each time it runs on the "
        "same input, so finite differences would measure that noise, not the gradient. The "
        "check replays every scratchnet.random.SeedGenerator (Dropout's) before each run; this "
        "target draws random numbers some other way (np.random? Python's random?) or changes "
        "its own state as it runs. Draw from a SeedGenerator, or check with training=False."
    )


def float64_twin(obj):
    """A deep copy of a layer or model that computes in float64, and its random streams.

    ``copy.deepcopy`` copies everything the object refers to (sublayers, a Sequential's fused
    steps, a Dropout's SeedGenerator) and records each copy in its ``memo`` dict, so the copies
    are all found there: each layer gets dtype float64 and float64 weights, and the random
    streams are returned as ``[(generator, saved state)]`` for ``_restore``.
    """
    memo = {}
    twin = copy.deepcopy(obj, memo)
    parts = [part for key, part in memo.items() if key != id(memo)]  # memo keeps one extra list
    for layer in (p for p in parts if isinstance(p, Layer)):
        layer.dtype, layer.grads = np.dtype(np.float64), {}  # no stale gradient can pass for new
        for key, value in layer.params.items():
            if value.dtype.kind == "f":
                layer.params[key] = value.astype(np.float64)  # the array the layer computes with
                layer.variables_by_key[key].value = layer.params[key]  # ... and its Variable's
    generators = [(g, g.state.copy()) for g in parts if isinstance(g, SeedGenerator)]
    return twin, generators


def _restore(generators):
    """Every random stream back to its saved state: each evaluation draws the same numbers."""
    for generator, state in generators:
        generator.state[...] = state


@contextlib.contextmanager
def _floatx_float64():
    previous = config.floatx()
    config.set_floatx("float64")
    try:
        yield
    finally:
        config.set_floatx(previous)


def _input_names(inputs):
    return ["dx"] if len(inputs) == 1 else [f"dx[{i}]" for i in range(len(inputs))]


def _weight_name(variable, root):
    """'kernel' for the checked layer's own weight, 'dense_1/kernel' for a sublayer's."""
    return variable.key if variable.owner is root else f"{variable.owner.name}/{variable.key}"


def _is_model(obj):
    """A scratchnet model (told by what it does: this module cannot import ``models``, which
    imports ``saving``, which imports ``utils``, which imports this module). A model is a
    layer too; a layer has no ``compile``."""
    return hasattr(obj, "compile") and all(
        hasattr(obj, name) for name in ("forward", "backward", "trainable_weights")
    )


def _describe(obj):
    return f"{'model' if _is_model(obj) else 'layer'} '{obj.name}' ({type(obj).__name__})"


def _sample(size, max_entries, rng):
    """The flat indices to check: all, or ``max_entries`` of them drawn by ``rng`` (sorted)."""
    if max_entries is None or size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_entries, replace=False))


# ----------------------------------------------------------------------------- comparing


def _compare(name, owner, grad, shape, indices, numeric, rtol, atol):
    """A TensorCheck of the analytic ``grad`` against ``numeric`` at ``indices``."""
    common = dict(tensor=name, owner=owner, shape=tuple(shape), checked=len(indices))
    if grad is None:  # autodiff found no path from this tensor to the output: its gradient is 0
        grad = np.zeros(shape)
    grad = np.asarray(grad, dtype=np.float64)
    common["gradient_shape"] = grad.shape
    if grad.shape != tuple(shape):
        return TensorCheck(
            **common, max_abs_error=np.inf, rel_error=np.inf, index=(), analytic=np.nan,
            numeric=np.nan, passed=False, indices=indices,
            analytic_values=np.full(len(indices), np.nan), numeric_values=numeric,
        )  # fmt: skip
    a = grad.reshape(-1)[indices]  # (K,) the analytic gradient where the numeric one was taken
    diff = np.abs(a - numeric)  # (K,)
    diff = np.where(np.isnan(diff), np.inf, diff)  # a NaN is the worst error there is
    worst = int(np.argmax(diff))
    max_abs = float(diff[worst])
    scale = float(np.max(np.abs(numeric)))
    return TensorCheck(
        **common, max_abs_error=max_abs, rel_error=max_abs / scale if scale > 0 else max_abs,
        index=tuple(int(i) for i in np.unravel_index(indices[worst], shape)),
        analytic=float(a[worst]), numeric=float(numeric[worst]),
        passed=bool(max_abs <= atol + rtol * scale),
        indices=indices, analytic_values=a, numeric_values=numeric,
    )  # fmt: skip


def _failure_message(report, check):
    lines = [
        f"check_gradients: the analytic and numeric gradients disagree: {report.subject}, "
        f"tensor '{check.tensor}'"
        + (f" of {check.owner}" if check.owner != report.subject else ""),
    ]
    if check.gradient_shape != check.shape:
        lines.append(
            f"  the analytic gradient has shape {check.gradient_shape}, but the tensor "
            f"has shape {check.shape}"
        )
    else:
        lines += [
            f"  float64, shape {check.shape}, {check.checked} of {check.size} entries checked",
            f"  worst index {check.index}: analytic = {check.analytic:.10g}, "
            f"numeric = {check.numeric:.10g}",
            f"  max abs error {check.max_abs_error:.3e}, relative error {check.rel_error:.3e} "
            f"> tolerance rtol={report.rtol:g} (atol={report.atol:g})",
        ]
    lines += [f"  hint: {h}" for h in diagnose(check, report)]
    lines += ["  all tensors:"] + ["    " + row for row in report.table().splitlines()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- hints


def _close(a, b, tol=1e-4):
    """a equals b up to ``tol`` relative to b's largest entry (a loose test: numeric gradients
    carry noise, and a hint only has to tell one mistake from another)."""
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return a.shape == b.shape and bool(np.max(np.abs(a - b), initial=0.0) <= tol * scale)


def diagnose(check, report):
    """Plain-words hints for the mistakes that would turn the numeric gradient into the analytic.

    The hints that move entries around (transposed, flipped, swapped with another input) need the
    whole tensor, so they are only looked for when every entry was checked.
    """
    a, n = check.analytic_values, check.numeric_values
    if check.gradient_shape != check.shape:
        if sorted(check.gradient_shape) == sorted(check.shape):
            return ["the shapes are a permutation of each other: transposed?"]
        return ["backward computed a gradient of another shape than the tensor it belongs to."]
    if not np.isfinite(a).all():
        return ["the analytic gradient has NaN or inf (an overflow in exp? log(0)? a division "
                "by zero?)."]  # fmt: skip
    if not np.any(n):
        return [
            "the numeric gradient is zero: the output does not depend on this tensor, so its "
            "gradient must be zero too (an extra term? a weight that forward does not use?)."
        ]
    if not np.any(a):
        return [
            "the analytic gradient is zero where the numeric one is not (a missing term? or "
            "backward never wrote this gradient)."
        ]
    factor = float(np.dot(a, n) / np.dot(n, n))  # the best c in a = c * n (least squares)
    if _close(a, factor * n):
        return [_factor_hint(factor)]
    hints = []
    if check.checked == check.size:
        hints += _rearranged_hints(a.reshape(check.shape), n.reshape(check.shape))
        hints += _swapped_hints(check, report)
    bad = np.abs(a - n) > report.atol + report.rtol * np.max(np.abs(n))  # (K,) failing entries
    if not hints and not np.any(a[bad]):
        hints.append(
            f"the analytic gradient is zero at {int(bad.sum())} entries where the numeric one is "
            "not (a missing term? a mask or a branch that drops part of the gradient?)."
        )
    if not hints and bad.sum() <= max(2, bad.size // 50):
        hints.append(
            f"only {int(bad.sum())} of {bad.size} entries disagree. If the layer has a kink (relu "
            f"at 0, a max-pool tie or near-tie, abs) within eps={report.eps:g} of this point, the "
            "numeric gradient is the one that is wrong there: try another seed, or data without "
            "ties. Otherwise look at the formula for that index."
        )
    if not hints:
        hints.append(
            "no simple pattern (a constant factor, the sign, zeros, a transpose) fits: check the "
            "backward formula term by term on a tiny case (one sample, one unit)."
        )
    return hints


def _factor_hint(factor):
    if abs(factor + 1) < 1e-3:
        return (
            "the analytic gradient has the opposite sign (a lost minus sign? y - t written as "
            "t - y? a gradient added where it should be subtracted?)."
        )
    for n in range(2, 65):
        if abs(factor - n) < 1e-3 * n or abs(factor - 1 / n) < 1e-3 / n:
            return (
                f"the analytic gradient is {f'{n}x' if factor > 1 else f'1/{n} of'} the numeric "
                f"one everywhere: a term counted {n} times, or a 1/{n} missing or applied twice "
                "(a batch size? a count?)"
            )
    sign = " and the sign is flipped" if factor < 0 else ""
    return (
        f"the analytic gradient is {factor:.3g}x the numeric one everywhere: a constant factor "
        f"is off{sign}."
    )


def _rearranged_hints(a, n):
    """a matches n with its axes permuted (a transpose) or a kernel's window flipped."""
    hints = []
    for axes in itertools.permutations(range(n.ndim)) if n.ndim <= 4 else ():
        moved = n.transpose(axes)
        if axes != tuple(range(n.ndim)) and moved.shape == n.shape and not _close(n, moved):
            if _close(a, moved):
                what = "transpose" if n.ndim == 2 else f"axes permuted as {axes}"
                hints.append(f"transposed? the analytic gradient is the numeric one's {what}.")
    if n.ndim == 2 and n.shape[0] != n.shape[1] and _close(a, n.T.reshape(n.shape)):
        hints.append(
            "transposed? the analytic gradient is the numeric one transposed, then reshaped to "
            "the tensor's shape."
        )
    if n.ndim == 4 and not _close(n, n[::-1, ::-1]) and _close(a, n[::-1, ::-1]):
        hints.append(
            "the kernel looks flipped: that is a true convolution; Keras's Conv2D computes a "
            "cross-correlation (no flip)."
        )
    return hints


def _swapped_hints(check, report):
    """a matches another tensor's numeric gradient: the gradients of two inputs swapped?"""
    return [
        f"it equals the numeric gradient of '{other.tensor}': are the gradients of "
        f"'{check.tensor}' and '{other.tensor}' swapped?"
        for other in report.tensors
        if other is not check
        and other.shape == check.shape
        and other.checked == other.size  # both whole tensors, in the same order
        and _close(check.analytic_values, other.numeric_values)
    ]
