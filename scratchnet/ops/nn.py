"""Neural-network ops (Keras's ``keras.ops.nn``): activations, one-hot, convolution, pooling and
cross-entropies, each op's backward rule right under its forward rule.

They are also at the top level, as in Keras: ``ops.relu`` is ``ops.nn.relu``. The elementwise
activations compute their forward as ``scratchnet.activations`` does; conv and max_pool run on
the kernel family in use (``scratchnet.kernels.backend``), the layers' own kernels.

Dtypes, as Keras's TensorFlow backend (measured): relu keeps ints; leaky_relu turns ints into
float32; tanh turns ints into floatx; the other activations, average_pool and the
cross-entropies take floats only (TensorFlow raises for ints, and so does scratchnet).

Example:
    >>> relu(convert_to_tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
"""

import warnings

import numpy as np

from .. import activations, config
from ..kernels import backend
from ..kernels.conv import reference as conv_reference
from .core import convert_to_tensor, promote, record

__all__ = [
    "average_pool", "binary_crossentropy", "categorical_crossentropy", "conv", "elu", "gelu",
    "leaky_relu", "log_softmax", "max_pool", "one_hot", "relu", "sigmoid", "silu", "softmax",
    "softplus", "sparse_categorical_crossentropy", "tanh",
]  # fmt: skip


def _floats_only(x, op):
    """``x`` as a tensor, refused unless it is a float (TensorFlow's kernels take floats only)."""
    x = convert_to_tensor(x)
    if x.value.dtype.kind != "f":
        raise TypeError(
            f"ops.{op} takes a float tensor, got {x.dtype} (Keras's TensorFlow backend raises "
            f"too). Cast it first: ops.{op}(ops.cast(x, 'float32'))."
        )
    return x


def _with_logits(y, logits):
    """Mark ``y`` as softmax(logits) or sigmoid(logits): the cross-entropies then use the logits,
    as Keras does (its ``_keras_logits``), which is exact where the clipped probabilities lose
    digits."""
    y._keras_logits = logits
    return y


# ----------------------------------------------------------------------------- activations


def relu(x):
    """max(x, 0), ints kept as ints.  dx = dy * [x > 0] (relu'(0) = 0, TensorFlow's rule)."""
    x = convert_to_tensor(x)
    if x.value.dtype == bool:
        raise TypeError("ops.relu takes numbers, got bool (as in Keras's TensorFlow backend).")
    y = activations.relu.forward(x.value)

    def backward(dy):
        return (dy * (x.value > 0),)

    return record(y, (x,), backward)


def sigmoid(x):
    """y = 1 / (1 + e^-x).  dx = dy * y * (1 - y)."""
    x = _floats_only(x, "sigmoid")
    y = activations.sigmoid.forward(x.value)

    def backward(dy):
        return (dy * y * (1 - y),)

    return _with_logits(record(y, (x,), backward), x)


def tanh(x):
    """y = tanh(x), ints become floatx (Keras files it under ``keras.ops``).  dx = dy (1 - y^2)."""
    (x,) = promote(x, also=(float,))
    y = activations.tanh.forward(x.value)

    def backward(dy):
        return (dy * (1 - y * y),)

    return record(y, (x,), backward)


def _axes(axis, ndim):
    """``axis`` (an int, a tuple, or None for all) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(a % ndim for a in axes)


def softmax(x, axis=-1):
    """y = e^(x - max x) / sum e^(x - max x) over ``axis`` (an int, a tuple, or None for all).

    Backward (the Jacobian-vector product): dx = (dy - sum(dy * y)) * y, the sums over ``axis``.
    The result carries its logits for the cross-entropies (``_with_logits``), as Keras's does.
    """
    x = _floats_only(x, "softmax")
    axes = _axes(axis, x.ndim)
    e = np.exp(x.value - x.value.max(axis=axes, keepdims=True))  # same shape as x
    y = e / e.sum(axis=axes, keepdims=True)

    def backward(dy):
        return ((dy - (dy * y).sum(axis=axes, keepdims=True)) * y,)

    out = record(y, (x,), backward)
    return out if isinstance(axis, tuple) else _with_logits(out, x)  # Keras loses it for tuples


def log_softmax(x, axis=-1):
    """y = x - max x - log(sum e^(x - max x)) over ``axis``.  dx = dy - softmax(x) * sum(dy)."""
    x = _floats_only(x, "log_softmax")
    axes = _axes(axis, x.ndim)
    shifted = x.value - x.value.max(axis=axes, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=axes, keepdims=True))

    def backward(dy):
        return (dy - np.exp(y) * dy.sum(axis=axes, keepdims=True),)

    return record(y, (x,), backward)


GELU_C = 0.7978845608028654  # sqrt(2 / pi)
GELU_A = 0.044715


def gelu(x, approximate=True):
    """Gaussian error linear unit. Keras's default is the tanh approximation (``approximate``).

    Math (approximate):  t = tanh(c (x + a x^3)), c = sqrt(2/pi), a = 0.044715
        y = x (1 + t) / 2,   dx = dy ((1 + t) / 2 + x (1 - t^2) c (1 + 3 a x^2) / 2)
    Math (exact):  y = x erfc(-x / sqrt 2) / 2 (= x (1 + erf(x / sqrt 2)) / 2, TensorFlow's
        erfc form, more accurate for x < 0),   dx = dy (erfc(-x / sqrt 2) / 2 + x phi(x)),
        phi(x) = e^(-x^2 / 2) / sqrt(2 pi), the normal density (computed, as TensorFlow's tape
        does, as r e^(-(r x)^2) / sqrt(pi) with r = 1/sqrt(2)).
    """
    x = _floats_only(x, "gelu")
    v = x.value
    # TensorFlow casts a and 1/sqrt(2) from float32 constants: in float64 they are float32's
    # roundings (measured), while c stays a Python float.
    a, r = (v.dtype.type(np.float32(value)) for value in (GELU_A, np.sqrt(0.5)))
    if approximate:
        t = np.tanh(GELU_C * (v + a * v**3))
        y = 0.5 * v * (1 + t)

        def backward(dy):
            return (dy * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * a * v * v)),)

        return record(y, (x,), backward)
    from scipy import special  # here: SciPy's special functions cost 12 MB at import

    erfc = special.erfc(-v * r)
    y = 0.5 * v * erfc

    def backward(dy):
        return (dy * (0.5 * erfc + v * r / np.sqrt(np.pi) * np.exp(-np.square(v * r))),)

    return record(y, (x,), backward)


def elu(x, alpha=1.0):
    """y = x for x > 0, alpha (e^x - 1) otherwise.

    Backward, as TensorFlow's EluGrad reads its output e = elu_1(x) (alpha = 1):
        dx = dy (e + 1) where e < 0, else dy; then times alpha where x <= 0.
    So elu'(0) = alpha, and far left (e + 1 rounds to 0) the gradient is 0, as in TensorFlow.
    """
    x = _floats_only(x, "elu")
    e = np.where(x.value > 0, x.value, np.expm1(np.minimum(x.value, 0)))  # elu with alpha = 1
    left = x.value <= 0
    y = e if alpha == 1 else np.where(left, alpha * e, e)

    def backward(dy):
        dx = np.where(e < 0, dy * (e + 1), dy)
        return (dx if alpha == 1 else np.where(left, alpha * dx, dx),)

    return record(y, (x,), backward)


def leaky_relu(x, negative_slope=0.2):
    """y = x for x > 0, slope * x otherwise; ints become float32 (TensorFlow's rule).

    dx = dy for x > 0, slope * dy otherwise (so the slope at 0 is the negative slope). The slope
    is rounded to float32 first, also for float64 inputs: TensorFlow keeps it as a float32
    attribute of its op (measured: 0.2 acts as 0.20000000298 in float64).
    """
    x = convert_to_tensor(x)
    if x.value.dtype.kind in "iu":
        x = convert_to_tensor(x, "float32")  # float32 whatever floatx is, as tf.nn.leaky_relu
    x = _floats_only(x, "leaky_relu")
    slope = x.value.dtype.type(np.float32(negative_slope))
    positive = x.value > 0
    y = np.where(positive, x.value, x.value * slope)

    def backward(dy):
        return (np.where(positive, dy, dy * slope),)

    return record(y, (x,), backward)


def softplus(x):
    """y = log(1 + e^x), as TensorFlow computes it: x where x > -T, e^x where x < T, else
    log1p(e^x), T = log(machine epsilon) + 2 (-13.94 in float32).  dx = dy / (1 + e^-x)."""
    x = _floats_only(x, "softplus")
    v = x.value
    T = np.log(np.finfo(v.dtype).eps) + 2
    with np.errstate(over="ignore"):
        ex = np.exp(v)
        y = np.where(v > -T, v, np.where(v < T, ex, np.log1p(ex)))

    def backward(dy):
        with np.errstate(over="ignore"):
            return (dy / (1 + np.exp(-v)),)

    return record(y, (x,), backward)


def silu(x):
    """y = x * s, s = sigmoid(x) (also called swish).  dx = dy * s * (1 + x (1 - s))."""
    x = _floats_only(x, "silu")
    s = activations.sigmoid.forward(x.value)
    y = x.value * s

    def backward(dy):
        return (dy * s * (1 + x.value * (1 - s)),)

    return record(y, (x,), backward)


# ----------------------------------------------------------------------------- one_hot


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """1 at each index's class, 0 elsewhere, along a new axis of length ``num_classes``.

    Args:
        x: integer class indices (floats are truncated, as Keras converts them to int64).
            An index outside [0, num_classes) gives a row of zeros, as in TensorFlow.
        num_classes: the length of the new axis.
        axis: where the new axis goes in the output (-1: last).
        dtype: the output dtype, floatx by default (bool gives True/False).
        sparse: Keras's sparse output; scratchnet has no sparse tensors.

    Shapes: x (...) -> (..., num_classes) for axis=-1. No gradient (the input is indices).
    """
    if sparse:
        raise ValueError("ops.one_hot: scratchnet has no sparse tensors; use sparse=False.")
    x = convert_to_tensor(x)
    index = x.value.astype(np.int64)  # (...)
    hot = index[..., None] == np.arange(num_classes)  # (..., num_classes)
    out_axis = axis % (index.ndim + 1)
    hot = np.moveaxis(hot, -1, out_axis)
    return convert_to_tensor(hot.astype(dtype or config.floatx()))


# ----------------------------------------------------------------------------- conv and pooling


def _spatial(x, data_format, op):
    """(x as channels-last with two spatial axes, how to undo that): 1-D inputs get H = 1."""
    if x.ndim not in (3, 4):
        raise ValueError(
            f"ops.{op}: scratchnet does 1-D and 2-D {op} (inputs of rank 3 or 4), got rank "
            f"{x.ndim}."
        )
    first = (data_format or "channels_last") == "channels_first"
    v = np.moveaxis(x, 1, -1) if first else x
    v = v[:, None] if x.ndim == 3 else v  # (N, H, W, C)

    def back(a):  # (N, H', W', C) -> the input's layout
        a = a[:, 0] if x.ndim == 3 else a
        return np.ascontiguousarray(np.moveaxis(a, -1, 1) if first else a)

    return np.ascontiguousarray(v), back


def _pair(value, ndim):
    """An int or a tuple as (vertical, horizontal); a 1-D op's vertical one is 1."""
    values = (value,) * ndim if np.ndim(value) == 0 else tuple(value)
    return (1, *values) if ndim == 1 else tuple(values)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Convolution (cross-correlation, no kernel flip) without bias, 1-D or 2-D.

    Args:
        inputs: (N, H, W, C_in) or (N, W, C_in) channels last (or channels first).
        kernel: (KH, KW, C_in, C_out) or (KW, C_in, C_out), Keras's layout.
        strides, dilation_rate: an int or one per spatial axis; not both above 1 (TensorFlow
            refuses that, and so does Keras).
        padding: 'valid' or 'same' (TensorFlow's split: an odd pixel goes bottom/right).

    Math (2-D; 1-D is the case H = KH = 1):
        y[n, i, j, f] = sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] kernel[a, b, c, f]
        dkernel[a, b] = sum_{n, i, j} xs^T dy,   dxpad[tap slice] += dy @ kernel[a, b]^T
        (xs = the input slice tap (a, b) sees; ``kernels/conv/reference.py`` writes these out)

    Dtypes: floats, and ints without gradient (TensorFlow's int32 conv). Keras raises for
    mixed dtypes; scratchnet promotes them.
    """
    inputs, kernel = promote(inputs, kernel)
    ndim = inputs.ndim - 2
    strides, dilation = _pair(strides, ndim), _pair(dilation_rate, ndim)
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(
            f"ops.conv: strides > 1 together with dilation_rate > 1 is not supported (as in "
            f"TensorFlow). Received: strides={strides} and dilation_rate={dilation}."
        )
    padding = padding.lower()
    x, back = _spatial(inputs.value, data_format, "conv")  # (N, H, W, C_in)
    k = kernel.value if ndim == 2 else kernel.value[None]  # (KH, KW, C_in, C_out)
    if x.shape[-1] != k.shape[2]:
        raise ValueError(
            f"ops.conv: the input has {x.shape[-1]} channels but the kernel expects {k.shape[2]} "
            "(grouped convolutions are not in scratchnet)."
        )
    if x.dtype.kind != "f":  # ints (TensorFlow's int32 conv): the NumPy twin, no gradient
        y = conv_reference.conv2d_forward_reference(x, k, strides, padding, dilation)
        return convert_to_tensor(back(y))
    K = backend.current()
    y, _ = K.conv2d_forward(x, k, None, strides, padding, dilation)  # (N, H_out, W_out, C_out)

    def backward(dy):
        dy, _ = _spatial(dy, data_format, "conv")
        dx, dk, _ = K.conv2d_backward(dy, x, k, strides, padding, dilation)
        return back(dx), dk.reshape(kernel.shape)

    return record(back(y), (inputs, kernel), backward)


def _pool_arguments(pool_size, strides, ndim):
    """(pool, strides) as pairs; strides default to the pool size, as in Keras."""
    pool = _pair(pool_size, ndim)
    return pool, (pool if strides is None else _pair(strides, ndim))


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """The largest value of each window, 1-D or 2-D (``strides`` default to ``pool_size``).

    Only real pixels take part ('same' padding never wins). Backward: each window's dy goes
    whole to its first maximum in row-major window order (TensorFlow's tie rule); windows that
    overlap add up. The dtype is kept (Keras on a NumPy float64 or int64 *array* returns
    float32, a quirk of tf.nn.max_pool's conversion; on tensors it keeps the dtype, as here).

    Shapes: inputs (N, H, W, C) -> (N, H_out, W_out, C); 1-D: (N, W, C) -> (N, W_out, C).
    """
    inputs = convert_to_tensor(inputs)
    pool, strides = _pool_arguments(pool_size, strides, inputs.ndim - 2)
    x, back = _spatial(inputs.value, data_format, "max_pool")  # (N, H, W, C)
    K = backend.current()
    if x.dtype.kind != "f":  # ints, no gradient: exact through float64 up to 2**53
        y, _ = K.max_pool2d_forward(x.astype(np.float64), pool, strides, padding.lower())
        return convert_to_tensor(back(y.astype(x.dtype)))
    y, argmax = K.max_pool2d_forward(x, pool, strides, padding.lower())  # (N, H_out, W_out, C)

    def backward(dy):
        dy, _ = _spatial(dy, data_format, "max_pool")
        return (back(K.max_pool2d_backward(dy, argmax, x.shape)),)

    return record(back(y), (inputs,), backward)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """The mean of each window over its real pixels ('same' padding is not counted), 1-D or 2-D.

    Math, as a loop over the PH*PW window taps (a, b), like the convolution's reference twin:
        count[i, j] = number of real pixels in window (i, j)
        y = sum_{a, b} xpad[:, i*sh + a, j*sw + b] / count
        dxpad[:, a + sh*i, b + sw*j] += dy / count   for every tap, then drop the padding
    """
    inputs = _floats_only(inputs, "average_pool")
    pool, strides = _pool_arguments(pool_size, strides, inputs.ndim - 2)
    x, back = _spatial(inputs.value, data_format, "average_pool")  # (N, H, W, C)
    N, H, W, C = x.shape
    (PH, PW), (sh, sw) = pool, strides
    H_out, pt, pb = conv_reference.output_size_and_padding(H, PH, sh, 1, padding.lower())
    W_out, pl, pr = conv_reference.output_size_and_padding(W, PW, sw, 1, padding.lower())
    if H_out < 1 or W_out < 1:
        raise ValueError(f"ops.average_pool: a {pool} window does not fit in a {H}x{W} input.")
    pads = ((0, 0), (pt, pb), (pl, pr), (0, 0))
    xpad = np.pad(x, pads)  # (N, H + pt + pb, W + pl + pr, C)
    real = np.pad(np.ones((1, H, W, 1), x.dtype), pads)  # 1 on real pixels, 0 on padding
    taps = [
        (slice(a, a + sh * (H_out - 1) + 1, sh), slice(b, b + sw * (W_out - 1) + 1, sw))
        for a in range(PH)
        for b in range(PW)
    ]
    count = sum(real[:, rows, cols] for rows, cols in taps)  # (1, H_out, W_out, 1)
    y = sum(xpad[:, rows, cols] for rows, cols in taps) / count  # (N, H_out, W_out, C)

    def backward(dy):
        dy, _ = _spatial(dy, data_format, "average_pool")
        share = dy / count  # (N, H_out, W_out, C)
        dxpad = np.zeros_like(xpad)
        for rows, cols in taps:
            dxpad[:, rows, cols] += share
        return (back(dxpad[:, pt : pt + H, pl : pl + W]),)

    return record(back(y), (inputs,), backward)


# ----------------------------------------------------------------------------- cross-entropies


def _logits_of(output, from_logits, op, fn):
    """Keras's ``_get_logits``: an output made by ops.softmax / ops.sigmoid carries its logits,
    which are then used instead (from_logits becomes True, with Keras's warning if it was)."""
    logits = getattr(output, "_keras_logits", None)
    if logits is None:
        return output, from_logits
    if from_logits:
        warnings.warn(
            f'"`{fn}` received `from_logits=True`, but the `output` argument was produced by a '
            f"{op} activation and thus does not represent logits. Was this intended?",
            stacklevel=3,
        )
    return logits, True


def _target_and_output(target, output, op):
    """Both as tensors of the output's float dtype (Keras raises for mixed dtypes instead)."""
    (output,) = promote(output, also=(float,))
    target = convert_to_tensor(target, output.dtype)
    if target.shape != output.shape:
        raise ValueError(
            f"ops.{op}: target and output must have the same shape. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )
    return target, output


def _clip(p):
    """clip(p, eps, 1 - eps) and where its gradient passes: eps <= p <= 1 - eps, the ends
    included (TensorFlow's clip_by_value is a minimum then a maximum, whose gradients go to
    the clipped value on a tie)."""
    lo, hi = p.dtype.type(config.epsilon()), p.dtype.type(1 - config.epsilon())
    return np.clip(p, lo, hi), (p >= lo) & (p <= hi)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per-sample -sum(target * log(probabilities)) over ``axis``, as Keras's ops compute it.

    Math, from logits z:  s = softmax(z), loss = -sum t * log_softmax(z)
        dz = dy * (s - t) (TensorFlow's kernel: exact when the targets sum to 1),
        dt = -dy * log_softmax(z)
    Math, from probabilities o:  p = o / sum(o), c = clip(p, eps, 1 - eps), loss = -sum t log c
        dp = -dy t / c where eps <= p <= 1 - eps (0 where clipped),
        do = (dp - sum(dp * p)) / sum(o),   dt = -dy * log c
    Shapes: target, output (..., C, ...) -> (...) without ``axis``.
    """
    output, from_logits = _logits_of(output, from_logits, "Softmax", "categorical_crossentropy")
    target, output = _target_and_output(target, output, "categorical_crossentropy")
    if target.ndim < 1:
        raise ValueError("ops.categorical_crossentropy: target and output must be at least 1-D.")
    t, o = target.value, output.value
    if from_logits:
        shifted = o - o.max(axis=axis, keepdims=True)
        log_s = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        loss = -(t * log_s).sum(axis=axis)

        def backward(dy):
            dy = np.expand_dims(dy, axis)
            return -dy * log_s, dy * (np.exp(log_s) - t)

        return record(loss, (target, output), backward)
    total = o.sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero row: NaN, as in Keras
        p = o / total
    c, passes = _clip(p)
    log_c = np.log(c)
    loss = -(t * log_c).sum(axis=axis)

    def backward(dy):
        dy = np.expand_dims(dy, axis)
        dp = -dy * t / c * passes
        return -dy * log_c, (dp - (dp * p).sum(axis=axis, keepdims=True)) / total

    return record(loss, (target, output), backward)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per-sample -log(probability of the target class), targets given as class indices.

    Args:
        target: int class indices of shape output.shape[:-1] (or with a trailing 1); floats are
            truncated. An index outside [0, C) is an error, as in TensorFlow.
        output: (..., C) probabilities, or logits with ``from_logits``.
        axis: only -1 (Keras's rule).

    Math: z = output if from_logits else log(clip(output, eps, 1 - eps)); s = softmax(z)
        loss = log(sum e^z) - z[target],   dz = dy * (s - onehot(target))
        from probabilities: doutput = dz / clip(output) where not clipped, else 0.
    (So probabilities are renormalised by the softmax, as in Keras.) No gradient for target.
    """
    (output,) = promote(output, also=(float,))
    if axis not in (-1, output.ndim - 1):
        raise ValueError(f"Only axis=-1 is currently supported. Received: axis={axis}")
    output, from_logits = _logits_of(
        output, from_logits, "Softmax", "sparse_categorical_crossentropy"
    )
    target = convert_to_tensor(target)
    labels = target.value.astype(np.int64)
    if labels.ndim == output.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    C = output.shape[-1]
    if labels.shape != output.shape[:-1]:
        raise ValueError(
            "ops.sparse_categorical_crossentropy: target must have the shape of output up to "
            f"its last axis. Received: target.shape={target.shape}, output.shape={output.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(
            f"ops.sparse_categorical_crossentropy: target holds class indices outside [0, {C}) "
            f"(from {labels.min()} to {labels.max()}); TensorFlow raises too."
        )
    if from_logits:
        z = output.value
    else:
        c, passes = _clip(output.value)
        z = np.log(c)
    shifted = z - z.max(axis=-1, keepdims=True)
    log_s = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (..., C)
    hot = labels[..., None] == np.arange(C)  # (..., C)
    loss = -np.take_along_axis(log_s, labels[..., None], axis=-1)[..., 0]

    def backward(dy):
        dz = dy[..., None] * (np.exp(log_s) - hot)
        return None, (dz if from_logits else dz / c * passes)

    return record(loss, (target, output), backward)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise -(t log o + (1 - t) log(1 - o)), as Keras's ops compute it.

    Math, from logits x (TensorFlow's stable form, never exp of a large number):
        loss = max(x, 0) - x t + log(1 + e^-|x|),   dx = dy * (sigmoid(x) - t),  dt = -dy x
    Math, from probabilities o:  c = clip(o, eps, 1 - eps)
        loss = -(t log c + (1 - t) log(1 - c))
        do = -dy (t / c - (1 - t) / (1 - c)) where eps <= o <= 1 - eps, else 0
        dt = -dy (log c - log(1 - c))
    """
    output, from_logits = _logits_of(output, from_logits, "Sigmoid", "binary_crossentropy")
    target, output = _target_and_output(target, output, "binary_crossentropy")
    t, o = target.value, output.value
    if from_logits:
        loss = np.maximum(o, 0) - o * t + np.log1p(np.exp(-np.abs(o)))

        def backward(dy):
            return -dy * o, dy * (activations.sigmoid.forward(o) - t)

        return record(loss, (target, output), backward)
    c, passes = _clip(o)
    log_c, log_1c = np.log(c), np.log(1 - c)
    loss = -(t * log_c + (1 - t) * log_1c)

    def backward(dy):
        return -dy * (log_c - log_1c), -dy * (t / c - (1 - t) / (1 - c)) * passes

    return record(loss, (target, output), backward)
