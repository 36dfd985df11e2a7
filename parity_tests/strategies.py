"""Hypothesis strategies for the parity tests: valid layer configs and the arrays to feed them.

Every strategy builds a valid case by construction instead of drawing anything and filtering:
it draws the kernel first, then an input at least as large as the (dilated) kernel, and draws
dilation only when the strides are 1 (Keras rejects the combination). Failures therefore shrink
to the smallest config that still fails, and a failing example is replayed from its seed.

Array values are drawn as a *kind* (how the values look) and a *seed*; the array is then made by
NumPy from that seed. Hypothesis shrinks the kind towards the first one listed and the seed
towards 0, and replays exactly. Drawing thousands of floats one by one would be slow and would
not shrink into anything more readable.

Public strategies (each documented below):

* ``conv2d_cases()``, ``max_pooling2d_cases()``, ``dense_cases()``, ``flatten_cases()``,
  ``activation_cases()``, ``dropout_cases()``: a ``LayerCase``;
* ``arrays(shape, dtype, kinds)``: an array of the given shape and dtype;
* ``upstream_gradients(shape, dtype)``: a random dL/dy, never constant.

Example:
    >>> from hypothesis import given
    >>> @given(conv2d_cases())
    ... def test_something(case):
    ...     layer = case.build(scratchnet)
"""

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

# Every activation the tutorials use, plus the ones the layers accept by name.
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")

# How array values can look (see ``make_array``).
KINDS = ("normal", "zeros", "ties", "saturated")


@dataclass(frozen=True)
class LayerCase:
    """One layer configuration and the input shape to run it on.

    Attributes:
        layer: the class name, the same in both libraries (``"Conv2D"``).
        kwargs: constructor keyword arguments, Keras spelling (``filters``, ``kernel_size``, ...).
        input_shape: the full input shape, batch axis first: ``(N, H, W, C_in)`` or ``(N, D)``.
    """

    layer: str
    kwargs: dict = field(hash=False)
    input_shape: tuple

    def build(self, lib):
        """Instantiate the layer from ``lib.layers`` (``lib`` is scratchnet or keras)."""
        return getattr(lib.layers, self.layer)(**self.kwargs)

    def describe(self):
        """``{"layer": ..., **kwargs, "input_shape": ...}``, for failure messages."""
        return {"layer": self.layer, **self.kwargs, "input_shape": self.input_shape}


# ----------------------------------------------------------------------------------- sizes


def conv_output_size(size, kernel, stride, dilation, padding):
    """Output length of a Conv2D along one axis (keras-behaviour.md section 1.2).

    valid: ``floor((size - dilation*(kernel-1) - 1) / stride) + 1``; same: ``ceil(size / stride)``.
    """
    if padding == "same":
        return -(-size // stride)
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(size, pool, stride, padding):
    """Output length of MaxPooling2D along one axis: valid ``floor((size-pool)/stride)+1``."""
    if padding == "same":
        return -(-size // stride)
    return (size - pool) // stride + 1


def same_padding(size, kernel, stride, dilation=1):
    """TensorFlow's 'same' split along one axis: ``(pad_before, pad_after)``, extra pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


# ----------------------------------------------------------------------------------- arrays


def make_array(shape, dtype, kind, seed):
    """The array that ``arrays`` draws for ``(kind, seed)``: deterministic NumPy.

    Kinds:
        ``normal``: standard normal values.
        ``zeros``: normal values with about a third replaced by exact zeros (relu's kink).
        ``ties``: integers 0, 1, 2 (max-pool windows with several equal maxima).
        ``saturated``: normal values times 50 (logits where softmax and sigmoid saturate).
    """
    rng = np.random.default_rng(seed)
    if kind == "normal":
        values = rng.standard_normal(shape)
    elif kind == "zeros":
        values = rng.standard_normal(shape) * (rng.random(shape) > 1 / 3)
    elif kind == "ties":
        values = rng.integers(0, 3, size=shape).astype(np.float64)
    elif kind == "saturated":
        values = 50.0 * rng.standard_normal(shape)
    else:
        raise ValueError(f"make_array: unknown kind {kind!r}; expected one of {KINDS}.")
    return values.astype(dtype)


def arrays(shape, dtype="float64", kinds=KINDS):
    """Strategy: an array of ``shape`` and ``dtype`` whose values look like one of ``kinds``.

    Args:
        shape: the array shape (a tuple).
        dtype: NumPy dtype name.
        kinds: which of ``KINDS`` may be drawn; the first is the one failures shrink to.
    """
    return st.builds(
        make_array,
        st.just(tuple(shape)),
        st.just(dtype),
        st.sampled_from(tuple(kinds)),
        st.integers(0, 2**32 - 1),
    )


def upstream_gradients(shape, dtype="float64"):
    """Strategy: a random upstream gradient dL/dy of ``shape``, never all ones or constant.

    Values are standard normal, drawn from a seed. A constant ``dy`` would hide transposed or
    mirrored gradients, since every output position would weigh the same.
    """
    return st.builds(
        lambda seed: np.random.default_rng(seed).standard_normal(shape).astype(dtype) + 0.1,
        st.integers(0, 2**32 - 1),
    )


def weights_for(shapes, dtype, seed):
    """Random weights of the given shapes (scale 1/sqrt(fan_in) for kernels, biases non-zero).

    Non-zero biases on purpose: Keras initialises biases to zeros, which would hide a bias that is
    added on the wrong axis.
    """
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        out.append((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype))
    return out


# ----------------------------------------------------------------------------------- layers


@st.composite
def conv2d_cases(draw, max_extra=5):
    """Strategy: a valid ``Conv2D`` case.

    Draws ``filters`` 1-4 (2-4 with softmax), a kernel 1-5 on each axis, strides 1-3, ``valid``
    or ``same``, a dilation 1-3 only when both strides are 1, every activation, with or without
    bias, then
    ``C_in`` 1-3, a batch of 1-3 and an input at least as large as the dilated kernel
    (``valid``) or any size 1-8 (``same``), plus up to ``max_extra`` pixels.
    """
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if strides == (1, 1):
        dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        dilation = (1, 1)
    padding = draw(st.sampled_from(("valid", "same")))
    sizes = []
    for k, d in zip(kernel, dilation, strict=True):
        smallest = d * (k - 1) + 1 if padding == "valid" else 1
        sizes.append(draw(st.integers(smallest, smallest + max_extra)))
    activation = draw(st.sampled_from(ACTIVATIONS))
    # A softmax over one filter is the constant 1: its gradients are exactly 0, and comparing
    # them would compare TensorFlow's rounding noise (~1e-7) with ours.
    filters = draw(st.integers(2 if activation == "softmax" else 1, 4))
    kwargs = dict(
        filters=filters,
        kernel_size=kernel,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        activation=activation,
        use_bias=draw(st.booleans()),
    )
    shape = (draw(st.integers(1, 3)), sizes[0], sizes[1], draw(st.integers(1, 3)))
    return LayerCase("Conv2D", kwargs, shape)


@st.composite
def max_pooling2d_cases(draw, max_extra=5):
    """Strategy: a valid ``MaxPooling2D`` case.

    Draws a pool 1-4 on each axis; strides either ``None`` (= pool size, Keras's default) or 1-4
    on each axis, so overlapping (stride < pool) and gapped (stride > pool) windows both occur;
    ``valid`` or ``same``; then an input at least the pool size (``valid``) or 1-8 (``same``).
    """
    pool = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    padding = draw(st.sampled_from(("valid", "same")))
    sizes = []
    for p in pool:
        smallest = p if padding == "valid" else 1
        sizes.append(draw(st.integers(smallest, smallest + max_extra)))
    kwargs = dict(pool_size=pool, strides=strides, padding=padding)
    shape = (draw(st.integers(1, 2)), sizes[0], sizes[1], draw(st.integers(1, 3)))
    return LayerCase("MaxPooling2D", kwargs, shape)


@st.composite
def dense_cases(draw):
    """Strategy: a ``Dense`` case: 1-8 units, any activation, bias or not, input (1-4, 1-10)."""
    kwargs = dict(
        units=draw(st.integers(1, 8)),
        activation=draw(st.sampled_from(ACTIVATIONS)),
        use_bias=draw(st.booleans()),
    )
    return LayerCase("Dense", kwargs, (draw(st.integers(1, 4)), draw(st.integers(1, 10))))


def _shapes(min_rank=2, max_rank=4, max_side=5):
    return st.lists(st.integers(1, max_side), min_size=min_rank, max_size=max_rank).map(tuple)


@st.composite
def flatten_cases(draw):
    """Strategy: a ``Flatten`` case on an input of rank 2-4, each side 1-5."""
    return LayerCase("Flatten", {}, draw(_shapes()))


@st.composite
def activation_cases(draw):
    """Strategy: an ``Activation`` layer (every name in ``ACTIVATIONS``) on rank 2-4 inputs."""
    return LayerCase(
        "Activation", {"activation": draw(st.sampled_from(ACTIVATIONS))}, draw(_shapes())
    )


@st.composite
def dropout_cases(draw):
    """Strategy: a ``Dropout`` case with a fixed seed (1 to 1e9, like Keras's own draws).

    Rates include 0 (identity) and the tutorials' 0.25 and 0.5, plus any rate in (0, 0.95).
    Inputs have rank 2-4 with sides up to 6, so masks have up to a thousand entries.
    """
    rate = draw(st.one_of(st.sampled_from((0.0, 0.25, 0.5)), st.floats(0.01, 0.95)))
    seed = draw(st.integers(1, 10**9))
    return LayerCase("Dropout", {"rate": rate, "seed": seed}, draw(_shapes(max_side=6)))


# ----------------------------------------------------------------------------------- optimizers


@st.composite
def optimizer_cases(draw):
    """Strategy: ``(class name, kwargs)`` for an optimizer with every option the spec covers.

    SGD with momentum 0 or in (0, 1) and nesterov on or off; Adam with and without amsgrad;
    RMSprop plain, centered, with momentum, or both. Learning rates, betas, rho and epsilon are
    drawn too (epsilon up to 0.1, where its place inside or outside the square root shows).
    """
    lr = draw(st.sampled_from((0.01, 0.001, 0.1, 0.5)))
    name = draw(st.sampled_from(("SGD", "Adam", "RMSprop")))
    if name == "SGD":
        momentum = draw(st.sampled_from((0.0, 0.9, 0.5, 0.99)))
        return name, dict(learning_rate=lr, momentum=momentum, nesterov=draw(st.booleans()))
    epsilon = draw(st.sampled_from((1e-7, 1e-3, 0.1)))
    if name == "Adam":
        return name, dict(
            learning_rate=lr,
            beta_1=draw(st.sampled_from((0.9, 0.8, 0.95))),
            beta_2=draw(st.sampled_from((0.999, 0.99, 0.9))),
            epsilon=epsilon,
            amsgrad=draw(st.booleans()),
        )
    return name, dict(
        learning_rate=lr,
        rho=draw(st.sampled_from((0.9, 0.8, 0.99))),
        momentum=draw(st.sampled_from((0.0, 0.9, 0.5))),
        epsilon=epsilon,
        centered=draw(st.booleans()),
    )


MORE_OPTIMIZERS = ("AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion")


@st.composite
def more_optimizer_cases(draw):
    """Strategy: ``(class name, kwargs)`` for AdamW, Adagrad, Adadelta, Adamax, Nadam or Lion.

    Each optimizer's own hyper-parameters are drawn around Keras's defaults, including values
    where a constant's place in the formula shows (epsilon up to 0.1, rho 0.5, beta_1 1.0 for
    Lion, Adagrad starting from a zero accumulator).
    """
    name = draw(st.sampled_from(MORE_OPTIMIZERS))
    lr = draw(st.sampled_from((0.001, 0.01, 0.1, 0.5)))
    epsilon = draw(st.sampled_from((1e-7, 1e-3, 0.1)))
    beta_1 = draw(st.sampled_from((0.9, 0.8, 0.95)))
    beta_2 = draw(st.sampled_from((0.999, 0.99, 0.9)))
    if name == "AdamW":
        return name, dict(
            learning_rate=lr,
            weight_decay=draw(st.sampled_from((0.004, 0.1, 0.5))),
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=draw(st.booleans()),
        )
    if name == "Adagrad":
        initial = draw(st.sampled_from((0.1, 0.0, 1.0)))
        return name, dict(learning_rate=lr, initial_accumulator_value=initial, epsilon=epsilon)
    if name == "Adadelta":
        rho = draw(st.sampled_from((0.95, 0.9, 0.5)))
        return name, dict(learning_rate=draw(st.sampled_from((lr, 1.0))), rho=rho, epsilon=epsilon)
    if name == "Lion":
        beta_1 = draw(st.sampled_from((0.9, 0.5, 1.0)))
        return name, dict(learning_rate=lr, beta_1=beta_1, beta_2=beta_2)
    return name, dict(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


@st.composite
def optimizer_options(draw):
    """Strategy: kwargs of the options every optimizer has, any combination Keras allows.

    At most one of clipnorm / clipvalue / global_clipnorm (Keras refuses two), with a bound
    that clips some gradients and not others; weight decay; EMA with and without overwriting;
    a loss scale factor; gradient accumulation over 2 or 3 calls.
    """
    options = {}
    clip = draw(st.sampled_from((None, "clipnorm", "clipvalue", "global_clipnorm")))
    if clip is not None:
        options[clip] = draw(st.sampled_from((0.1, 1.0, 5.0)))
    if draw(st.booleans()):
        options["weight_decay"] = draw(st.sampled_from((0.004, 0.1)))
    if draw(st.booleans()):
        options["use_ema"] = True
        options["ema_momentum"] = draw(st.sampled_from((0.99, 0.5)))
        options["ema_overwrite_frequency"] = draw(st.sampled_from((None, 1, 2, 3)))
    if draw(st.booleans()):
        options["loss_scale_factor"] = draw(st.sampled_from((2.0, 3.0, 0.1)))
    if draw(st.booleans()):
        options["gradient_accumulation_steps"] = draw(st.integers(2, 3))
    return options


SCHEDULES = (
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
)


@st.composite
def schedule_cases(draw, name=None):
    """Strategy: ``(class name, kwargs)`` of a learning-rate schedule with short periods.

    Decay steps and boundaries are 1-8, so a run of a few steps crosses them (staircase steps,
    the end of a polynomial or cosine decay, a cosine restart, the end of a warm-up).
    """
    name = name or draw(st.sampled_from(SCHEDULES))
    lr = draw(st.sampled_from((0.1, 0.01, 0.5)))
    steps = draw(st.integers(1, 8))
    if name in ("ExponentialDecay", "InverseTimeDecay"):
        rate = draw(st.sampled_from((0.9, 0.5, 0.96) if name == "ExponentialDecay" else (0.5, 2.0)))
        return name, dict(
            initial_learning_rate=lr,
            decay_steps=steps,
            decay_rate=rate,
            staircase=draw(st.booleans()),
        )
    if name == "PiecewiseConstantDecay":
        boundaries = sorted(draw(st.sets(st.integers(0, 8), min_size=1, max_size=3)))
        values = draw(
            st.lists(st.sampled_from((0.1, 0.05, 0.01, 0.3)), min_size=len(boundaries) + 1)
        )
        return name, dict(boundaries=boundaries, values=values[: len(boundaries) + 1])
    if name == "PolynomialDecay":
        return name, dict(
            initial_learning_rate=lr,
            decay_steps=steps,
            end_learning_rate=draw(st.sampled_from((0.0001, 0.01))),
            power=draw(st.sampled_from((1.0, 0.5, 2.0))),
            cycle=draw(st.booleans()),
        )
    if name == "CosineDecay":
        warmup = draw(st.booleans())
        return name, dict(
            initial_learning_rate=draw(st.sampled_from((lr, 0.0))) if warmup else lr,
            decay_steps=steps,
            alpha=draw(st.sampled_from((0.0, 0.1))),
            warmup_target=draw(st.sampled_from((0.2, 0.05))) if warmup else None,
            warmup_steps=draw(st.integers(0, 5)) if warmup else 0,
        )
    return name, dict(
        initial_learning_rate=lr,
        first_decay_steps=steps,
        t_mul=draw(st.sampled_from((2.0, 1.0, 1.5))),
        m_mul=draw(st.sampled_from((1.0, 0.5))),
        alpha=draw(st.sampled_from((0.0, 0.1))),
    )


@st.composite
def gradient_runs(draw, dtype="float64", max_steps=6):
    """Strategy: ``(variables, gradient steps)`` for an optimizer run.

    1-3 variables of small shapes (a kernel, a bias, ...), then 1-``max_steps`` steps, each a list
    of gradients shaped like the variables. Gradients are normal with a scale drawn per run
    (1e-3 to 10), so both tiny and large updates against epsilon occur.
    """
    shapes = draw(
        st.lists(st.sampled_from(((3, 4), (4,), (2, 2, 1, 3), (1,))), min_size=1, max_size=3)
    )
    steps = draw(st.integers(1, max_steps))
    scale = draw(st.sampled_from((1.0, 1e-3, 10.0)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    variables = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(scale * rng.standard_normal(s)).astype(dtype) for s in shapes] for _ in range(steps)]
    return variables, grads


# ----------------------------------------------------------------------------------- losses

LOSSES = (
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
)


@st.composite
def loss_cases(draw, name, dtype="float64"):
    """Strategy: ``(y_true, logits)`` for loss ``name``, logits of kind normal or saturated.

    Shapes are ``(N, C)`` with N 1-5 and C 2-6 (1-4 for binary cross-entropy). ``y_true`` is
    one-hot for categorical cross-entropy, integer ids ``(N,)`` for the sparse one, 0/1 for
    binary cross-entropy and normal values for mean squared error. Saturated logits (|z| ~ 50)
    are where Keras's fused and clipped forms differ most.
    """
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 4)) if name == "binary_crossentropy" else draw(st.integers(2, 6))
    z = draw(arrays((n, c), dtype, kinds=("normal", "saturated")))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if name == "sparse_categorical_crossentropy":
        y = rng.integers(0, c, size=n)
    elif name == "categorical_crossentropy":
        y = np.eye(c, dtype=dtype)[rng.integers(0, c, size=n)]
    elif name == "binary_crossentropy":
        y = rng.integers(0, 2, size=(n, c)).astype(dtype)
    else:
        y = rng.standard_normal((n, c)).astype(dtype)
    return y, z
