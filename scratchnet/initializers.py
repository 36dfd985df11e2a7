"""Weight initializers, mirroring ``keras.initializers`` number for number.

An initializer is an object called as ``init(shape, dtype) -> np.ndarray``. Layers accept one by
name (``kernel_initializer="glorot_uniform"``), as an object, or as a Keras config dict; ``get``
turns any of these into an object.

Random initializers follow Keras exactly, so that after ``random.seed(S)`` a scratchnet model and
a Keras model built in the same order start from bit-identical weights (float32 and float64):

* with ``seed=None`` the initializer draws ``random.randint(1, 10**9)`` from Python's ``random``
  when it is CONSTRUCTED (a layer constructs its initializers in ``__init__``);
* every call draws from the stateless seed ``(seed, 0)``: the same numbers each call;
* Python-float uniform bounds and constants are rounded to float32 first, even for float64
  weights, because Keras passes them through ``tf.cast`` (see ``_keras_number``); normal means
  and stddevs are not (``_normal``). Normal numbers are bit for bit with the numba kernels
  (``scratchnet.random``); only Orthogonal's QR agrees to rounding, not bit for bit.

Example:
    >>> init = get("glorot_uniform")
    >>> w = init((3, 4), "float32")
    >>> w.shape, bool((abs(w) <= (6 / (3 + 4)) ** 0.5).all())
    ((3, 4), True)
    >>> serialize(Zeros())
    {'module': 'keras.initializers', 'class_name': 'Zeros', 'config': {}, 'registered_name': None}
"""

import math
import re

import numpy as np

from . import config as _config
from . import random as _random
from .random import draw_seed, make_default_seed, stateless_uniform


def compute_fans(shape, input_axes=None, output_axes=None):
    """The number of input and output units of a weight tensor, as Keras counts them.

    Args:
        shape: the weight shape, for example (D_in, D_out) for Dense or (KH, KW, C_in, C_out)
            for Conv2D.
        input_axes, output_axes: optional axes to multiply for fan_in and fan_out (both or
            neither), overriding the rules below.

    Returns:
        (fan_in, fan_out) as ints.

    Math:
        ()                        fan_in = fan_out = 1
        (n,)                      fan_in = fan_out = n
        (D_in, D_out)             fan_in = D_in, fan_out = D_out
        (..., C_in, C_out)        fan_in = C_in * R, fan_out = C_out * R, R = product of the rest
                                  (the receptive field, KH * KW for Conv2D)

    Example:
        >>> compute_fans((3, 3, 1, 32))
        (9, 288)
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Base class: ``__call__(shape, dtype=None)`` makes the array; ``get_config`` describes it."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments, as in the ``config`` of ``keras.initializers.serialize``."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Build the initializer back from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _dtype(dtype):
    """The requested dtype, or scratchnet's floatx when None (as Keras uses its floatx)."""
    return _config.float_dtype() if dtype is None else np.dtype(dtype)


def _keras_number(value):
    """A number as Keras's ``cast(value, dtype)`` on TensorFlow sees it: floats become float32.

    ``tf.cast`` first turns a Python float into a float32 tensor and only then casts it, so in
    float64 Keras's constants and uniform bounds are the float32-rounded numbers
    (0.3 -> 0.30000001192092896). Ints and NumPy scalars keep their exact value. In float32 this
    changes nothing.
    """
    return float(np.float32(value)) if type(value) is float else value


class Zeros(Initializer):
    """All zeros (the default bias initializer).

    Example:
        >>> Zeros()((2,), "float32")
        array([0., 0.], dtype=float32)
    """

    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones.

    Example:
        >>> Ones()((2,), "float32")
        array([1., 1.], dtype=float32)
    """

    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=_dtype(dtype))


class Constant(Initializer):
    """Every element equal to ``value`` (a Python float is rounded to float32 first, as Keras).

    Args:
        value: a Python scalar.

    Example:
        >>> Constant(0.5)((2,), "float32")
        array([0.5, 0.5], dtype=float32)
    """

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, _keras_number(self.value), dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value.item() if isinstance(self.value, np.generic) else self.value}


class RandomInitializer(Initializer):
    """Base class of the random initializers: fixes the seed at construction, as Keras does.

    Args:
        seed: an int, or None to draw ``random.randint(1, 10**9)`` from Python's ``random`` now.
            Either way every call uses the stateless seed ``(seed, 0)``: same numbers each call.
    """

    def __init__(self, seed=None):
        self._init_seed = seed  # what the user passed, for get_config
        if seed is None:
            seed = make_default_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(
                f"{type(self).__name__}: seed must be an integer or None, got {seed!r}."
            )
        self.seed = int(seed)

    def get_config(self):
        return {"seed": self._init_seed}


class RandomUniform(RandomInitializer):
    """Uniform numbers in [minval, maxval).

    Args:
        minval, maxval: the range (Python floats).
        seed: see ``RandomInitializer``.

    Math:
        w = u * (maxval - minval) + minval,  u ~ stateless_uniform(shape, (seed, 0)) in [0, 1)
        (minval and maxval rounded to float32 first, as Keras does, then to the dtype)

    Example:
        >>> w = RandomUniform(-0.05, 0.05, seed=1)((100,), "float32")
        >>> bool((abs(w) <= 0.05).all())
        True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        minval, maxval = _keras_number(self.minval), _keras_number(self.maxval)
        return stateless_uniform(shape, draw_seed(self.seed), _dtype(dtype), minval, maxval)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def _normal(shape, seed, dtype, mean, stddev, truncated):
    """z * stddev + mean, z = ``stateless_(truncated_)normal(shape, (seed, 0))``, as Keras's
    ``random.normal`` / ``truncated_normal``. Unlike uniform bounds, mean and stddev go straight
    to the dtype (TensorFlow's ``convert_to_tensor``): float64 weights see the exact double."""
    dtype = _dtype(dtype)
    draw = _random.stateless_truncated_normal if truncated else _random.stateless_normal
    z = draw(shape, draw_seed(seed), dtype)  # shape
    return np.asarray(z * np.asarray(stddev, dtype) + np.asarray(mean, dtype))


class RandomNormal(RandomInitializer):
    """Normal numbers with mean ``mean`` and standard deviation ``stddev``.

    Args:
        mean, stddev: Python floats.
        seed: see ``RandomInitializer``.

    Math:
        w = z * stddev + mean,  z ~ stateless_normal(shape, (seed, 0)) (Box-Muller on Philox),
        each step rounded to the dtype: Keras's numbers bit for bit with the numba kernels.

    Example:
        >>> w = RandomNormal(stddev=1.0, seed=1)((1000,), "float64")
        >>> bool(abs(w.std() - 1) < 0.1)
        True
    """

    TRUNCATED = False

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return _normal(shape, self.seed, dtype, self.mean, self.stddev, self.TRUNCATED)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """RandomNormal with every z redrawn until |z| < 2 (within two ``stddev`` of the mean):
    w = z * stddev + mean,  z ~ stateless_truncated_normal(shape, (seed, 0)).

    Example:
        >>> bool((abs(TruncatedNormal(stddev=1.0, seed=1)((1000,), "float32")) < 2).all())
        True
    """

    TRUNCATED = True


TRUNCATED_STDDEV = 0.87962566103423978  # std of a standard normal truncated to (-2, 2)


class VarianceScaling(RandomInitializer):
    """Numbers whose variance is ``scale / fan``, the family behind Glorot, He and LeCun.

    Args:
        scale: positive float.
        mode: "fan_in", "fan_out" or "fan_avg": which fan divides the scale.
        distribution: "truncated_normal" (Keras's default; "normal" means it too),
            "untruncated_normal" or "uniform".
        seed: see ``RandomInitializer``.
        input_axes, output_axes: optional axes for ``compute_fans``.

    Math:
        s = scale / max(1, fan)   with fan = fan_in, fan_out or (fan_in + fan_out) / 2
        "uniform":            limit = sqrt(3 s), w as RandomUniform(-limit, limit)
        "truncated_normal":   stddev = sqrt(s) / 0.87962566103423978, w as TruncatedNormal(0,
                              stddev) (truncating at 2 shrinks the std by that factor)
        "untruncated_normal": stddev = sqrt(s), w as RandomNormal(0, stddev)

    Example:
        >>> he = VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=0)
        >>> he((50, 10), "float64").shape
        (50, 10)
        >>> round(VarianceScaling(seed=0).stddev((4, 3)), 6)
        0.568424
    """

    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: scale must be a positive float, got {scale!r}.")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(
                f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}."
            )
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"  # Keras's reading of the old name
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling: bad distribution {distribution!r}; use {self.DISTRIBUTIONS}."
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def scaled(self, shape):
        """s = scale / max(1, fan), computed in Keras's exact order."""
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        scale = self.scale
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        return scale

    def limit(self, shape):
        """The uniform half-width ``sqrt(3 * scale / max(1, fan))``."""
        return math.sqrt(3.0 * self.scaled(shape))

    def stddev(self, shape):
        """The normal distributions' stddev: sqrt(s), divided by 0.8796... when truncated."""
        stddev = math.sqrt(self.scaled(shape))
        return stddev / TRUNCATED_STDDEV if self.distribution == "truncated_normal" else stddev

    def __call__(self, shape, dtype=None):
        if self.distribution == "uniform":
            limit = _keras_number(self.limit(shape))
            return stateless_uniform(shape, draw_seed(self.seed), _dtype(dtype), -limit, limit)
        truncated = self.distribution == "truncated_normal"
        return _normal(shape, self.seed, dtype, 0.0, self.stddev(shape), truncated)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling preset (subclasses set SCALE, MODE and DISTRIBUTION); its config
    is only (seed, input_axes, output_axes), as for Keras's GlorotUniform, HeNormal, ..."""

    DISTRIBUTION = "uniform"

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(
            scale=self.SCALE,
            mode=self.MODE,
            distribution=self.DISTRIBUTION,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        return {
            "seed": self._init_seed,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform, the default kernel initializer of Dense and Conv2D:
    limit = sqrt(6 / (fan_in + fan_out)) (scale=1, mode="fan_avg", "uniform").

    Example:
        >>> round(GlorotUniform(seed=0).limit((1600, 10)), 7)
        0.0610468
    """

    SCALE, MODE = 1.0, "fan_avg"


class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796..., truncated
    at 2 stddev (scale=1, mode="fan_avg", "truncated_normal").

    Example:
        >>> round(GlorotNormal(seed=0).stddev((3, 5)), 6)
        0.568424
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class HeUniform(_FixedVarianceScaling):
    """He uniform, suited to ReLU layers: limit = sqrt(6 / fan_in) (scale=2, mode="fan_in").

    Example:
        >>> HeUniform(seed=0).limit((6, 1))
        1.0
    """

    SCALE, MODE = 2.0, "fan_in"


class HeNormal(_FixedVarianceScaling):
    """He normal, suited to ReLU layers: stddev = sqrt(2 / fan_in) / 0.8796..., truncated at
    2 stddev (scale=2, mode="fan_in", "truncated_normal").

    Example:
        >>> round(HeNormal(seed=0).stddev((2, 7)), 6)
        1.136847
    """

    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: limit = sqrt(3 / fan_in) (scale=1, mode="fan_in", "uniform").

    Example:
        >>> LecunUniform(seed=0).limit((3, 1))
        1.0
    """

    SCALE, MODE = 1.0, "fan_in"


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal (SELU's initializer): stddev = sqrt(1 / fan_in) / 0.8796..., truncated at
    2 stddev (scale=1, mode="fan_in", "truncated_normal").

    Example:
        >>> round(LecunNormal(seed=0).stddev((1, 7)), 6)
        1.136847
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "truncated_normal"


class Orthogonal(RandomInitializer):
    """An orthogonal matrix times ``gain``: the Q factor of normal numbers, as Keras makes it.

    Args:
        gain: multiplies the matrix.
        seed: see ``RandomInitializer``.

    Math (shape at least 2-D, read as a (rows, cols) matrix, rows = prod(shape[:-1])):
        a ~ stateless_normal((max(rows, cols), min(rows, cols)), (seed, 0))  (Keras's a exactly)
        q, r = qr(a) (reduced);  q = q * sign(diag(r))   (the signs make the factors unique)
        w = gain * reshape(q if rows >= cols else q^T, shape): orthonormal columns (or rows)

    Precision: TensorFlow factors with Eigen's Householder QR, NumPy with LAPACK's: the same
    algorithm with the sums in another order, so w is Keras's to rounding, not bit for bit
    (measured: parity_tests/test_initializers_parity.py).

    Example:
        >>> w = Orthogonal(seed=1)((4, 3), "float64")
        >>> bool(np.allclose(w.T @ w, np.eye(3)))
        True
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must be 2-D or more (a kernel), got {shape}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = (max(rows, cols), min(rows, cols))
        a = _random.stateless_normal(flat, draw_seed(self.seed), _dtype(dtype))  # (max, min)
        q, r = np.linalg.qr(a)  # (max, min), (min, min)
        q = q * np.sign(np.diag(r))  # (max, min): column j times the sign of r[j, j]
        return self.gain * (q.T if rows < cols else q).reshape(shape)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


class Identity(Initializer):
    """The identity matrix times ``gain``, 2-D shapes only: w[i, j] = gain if i == j else 0.

    Its config is empty, as Keras 3.15's (measured: Identity does not save its gain, so a saved
    Identity(2.0) comes back as Identity(1.0), in Keras too).

    Example:
        >>> Identity(2.0)((2, 3), "float32")
        array([[2., 0., 0.],
               [0., 2., 0.]], dtype=float32)
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity: only 2-D shapes can be initialized, got {shape}.")
        return self.gain * np.eye(*shape, dtype=_dtype(dtype))


def _snake_case(name):
    """GlorotUniform -> glorot_uniform: Keras's lower-case name of each class."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# Names accepted by get()/deserialize(): Keras's class names, their snake_case forms and aliases.
_CLASSES = [Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling]
_CLASSES += [GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal]
_CLASSES += [Orthogonal, Identity]
_NAMES = {name: cls for cls in _CLASSES for name in (cls.__name__, _snake_case(cls.__name__))}
_NAMES.update(zero=Zeros, one=Ones, uniform=RandomUniform, normal=RandomNormal)
_NAMES.update(IdentityInitializer=Identity, OrthogonalInitializer=Orthogonal)


def serialize(initializer):
    """The Keras config dict of an initializer, exactly as ``keras.initializers.serialize``.

    Args:
        initializer: a scratchnet Initializer.

    Returns:
        ``{"module": "keras.initializers", "class_name": ..., "config": ..., "registered_name":
        None}``, which ``keras.initializers.deserialize`` also accepts.

    Example:
        >>> serialize(GlorotUniform(seed=5))["config"]
        {'seed': 5, 'input_axes': None, 'output_axes': None}
    """
    if not isinstance(initializer, Initializer):
        raise ValueError(f"serialize: expected a scratchnet Initializer, got {initializer!r}.")
    return {
        "module": "keras.initializers",
        "class_name": type(initializer).__name__,
        "config": initializer.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    """Build an initializer from a Keras config dict (or a name), the inverse of ``serialize``.

    Args:
        config: a dict with "class_name" and "config" (as ``serialize`` or Keras writes it), or
            a name string such as "glorot_uniform".

    Example:
        >>> deserialize({"class_name": "HeUniform", "config": {"seed": 3}}).seed
        3
    """
    if isinstance(config, str):
        return _lookup(config)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "deserialize: expected a name or a dict with 'class_name' and 'config', "
            f"got {config!r}."
        )
    return _lookup(config["class_name"]).from_config(dict(config.get("config") or {}))


def _lookup(name):
    if name not in _NAMES:
        raise ValueError(
            f"Unknown initializer {name!r}. scratchnet offers: {', '.join(sorted(_NAMES))}."
        )
    return _NAMES[name]


def get(identifier):
    """Turn a name, config dict, class or object into an initializer (``keras.initializers.get``).

    Args:
        identifier: None (returns None), a name ("glorot_uniform" or "GlorotUniform"), a Keras
            config dict, an Initializer class (instantiated now, so a seed is drawn now), or any
            callable ``f(shape, dtype)`` (returned as-is).

    Example:
        >>> type(get("GlorotUniform")).__name__, type(get("zeros")).__name__
        ('GlorotUniform', 'Zeros')
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
