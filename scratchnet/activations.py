"""Activation functions, each a forward rule with its backward rule right under it.

An activation is used by name (``Dense(10, activation="softmax")``), as an object from this
module, or as the function itself (``activation=scratchnet.activations.relu``). Any Python
function written with ``scratchnet.ops`` works too (``Dense(4, activation=my_fn)``): autodiff
finds its derivative (``FunctionActivation``).

Each object has:

* ``forward(z, out=None) -> y``, elementwise or (softmax, log_softmax) along the last axis. With
  ``out=z`` the elementwise ones overwrite ``z`` instead of allocating (layers do that on the
  hot path);
* ``backward(dy, y) -> dz``, the chain rule through the activation. Most rules can be written
  with the output ``y`` alone (relu'(z) = [y > 0], sigmoid' = y(1 - y), tanh' = 1 - y^2,
  elu' = y + alpha for y < 0, softplus' = sigmoid(z) = 1 - e^-y), so layers cache only ``y``.
  ``dy`` is never modified.
* ``needs_input``: True for the few whose derivative is not a function of ``y``: gelu, silu,
  hard_silu and mish are not one-to-one (two inputs give the same output, with different
  slopes), and softsign's 1 - |y| loses |z| * eps of its digits for large |z|. Their rule is
  ``backward(dy, y, z) -> dz``: a layer keeps z as well (it may not overwrite z with y), and
  calls ``backprop(activation, dy, y, z)``, which passes z only to those that read it.

Relu's backward and sigmoid's forward and backward have kernels: the line of math is written
here, and computed one level down by the kernel family in use (``scratchnet.kernels.backend``:
a numba loop, one pass instead of two to four, or the NumPy twin of exactly that line).

When softmax or sigmoid feeds a cross-entropy loss, the loss hands back dL/dz directly and this
backward is not used: see ``scratchnet.losses.ActivationWithLoss``.

Gradients at the kinks are TensorFlow's (measured on TensorFlow 2.21): relu'(0) = 0,
leaky_relu'(0) = negative_slope, elu'(0) = alpha, selu'(0) = scale, relu6' and hard_sigmoid'
are 0 at both ends of their slope.

Example:
    >>> import numpy as np
    >>> relu.forward(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    >>> backprop(elu, np.ones(2), elu.forward(np.array([-1.0, 1.0])))
    array([0.36787944, 1.        ])
"""

import numpy as np

from .kernels import backend
from .ops.core import Tensor, convert_to_tensor, gradients, record, record_gradients


def backprop(activation, dy, y, z=None):
    """dz = activation'(dy): from the output y, and the input z for those with ``needs_input``.

    Shapes: dy, y, z all the shape of the activation's input; so is dz.
    """
    if activation.needs_input:
        return activation.backward(dy, y, z)
    return activation.backward(dy, y)


def _into(result, out):
    """``result`` written into ``out`` when the caller gave one (computed first: out may be z)."""
    if out is None:
        return result
    out[...] = result
    return out


class Activation:
    """Base class: an elementwise (or last-axis) function with its derivative."""

    name = "activation"
    needs_input = False  # True: backward(dy, y, z) also reads the input z (see module docstring)

    def forward(self, z, out=None):
        raise NotImplementedError

    def backward(self, dy, y):
        raise NotImplementedError

    def __call__(self, z):
        """``activation(z)``: on an array, the forward rule; on a Tensor (inside a layer's
        ``call``), an op whose backward rule is this activation's ``backward``."""
        if not isinstance(z, Tensor):
            return self.forward(z)
        y = self.forward(z.value)

        def backward(dy):
            return (backprop(self, dy, y, z.value),)

        return record(y, (z,), backward)

    def __repr__(self):
        return f"<activation {self.name}>"


class Linear(Activation):
    """Math: y = z.  dz = dy."""

    name = "linear"

    def forward(self, z, out=None):
        return z

    def backward(self, dy, y):
        return dy


class ReLU(Activation):
    """Math: y = max(z, 0).  dz = dy * (y > 0), so relu'(0) = 0 as in TensorFlow."""

    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def backward(self, dy, y):
        return backend.current().relu_backward(dy, y)  # dy * (y > 0)


class Sigmoid(Activation):
    """Math: y = 1 / (1 + exp(-z)).  dz = dy * y * (1 - y).

    The numba kernel computes its own exp, within 2.5 units in the last place of the exact value
    (``scratchnet.kernels.elementwise``; measured: docs/kernels/elementwise.md#measured-sigmoid).
    """

    name = "sigmoid"

    def forward(self, z, out=None):
        return backend.current().sigmoid(z, out)  # 1 / (1 + exp(-z))

    def backward(self, dy, y):
        return backend.current().sigmoid_backward(dy, y)  # dy * y * (1 - y)


class Tanh(Activation):
    """Math: y = tanh(z).  dz = dy * (1 - y^2)."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, dy, y):
        return dy * (1 - y * y)


class Softmax(Activation):
    """Math: y_i = exp(z_i - max z) / sum_j exp(z_j - max z) along the last axis.

    Backward (the Jacobian-vector product): dz = (dy - sum_j dy_j y_j) * y.
    """

    name = "softmax"

    def forward(self, z, out=None):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return np.divide(e, e.sum(axis=-1, keepdims=True), out=out)

    def backward(self, dy, y):
        return (dy - (dy * y).sum(axis=-1, keepdims=True)) * y


class ELU(Activation):
    """Exponential linear unit.  Math: y = z for z > 0, alpha (e^z - 1) otherwise.

    Backward from y, as TensorFlow's EluGrad reads its output: for z <= 0, alpha e^z = y + alpha,
    so dz = dy (y + alpha) where y <= 0, else dy; elu'(0) = alpha. Needs alpha >= 0 (y <= 0 then
    tells z <= 0); ``keras.activations.elu``'s default is 1.
    """

    name = "elu"

    def __init__(self, alpha=1.0):
        if alpha < 0:
            raise ValueError(
                f"activations.ELU: alpha must be >= 0 (the backward rule reads z <= 0 from "
                f"y <= 0), got {alpha!r}."
            )
        self.alpha = alpha

    def forward(self, z, out=None):
        e = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))  # elu with alpha = 1, z's shape
        return _into(e if self.alpha == 1 else np.where(z > 0, e, self.alpha * e), out)

    def backward(self, dy, y):
        return np.where(y > 0, dy, dy * (y + y.dtype.type(self.alpha)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class SELU(Activation):
    """Scaled ELU.  Math: y = scale z for z >= 0, scale alpha (e^z - 1) otherwise, with
    alpha = 1.67326324, scale = 1.05070099 (Klambauer et al., 2017).

    Backward from y, as TensorFlow's SeluGrad: dz = dy (y + scale alpha) where y < 0, else
    dy scale; so selu'(0) = scale. The constants are rounded to z's dtype, and e^z - 1 is
    computed as such (not expm1), as TensorFlow does: for -eps/2 < z < 0 it rounds to 0, and the
    slope there is scale, as in TensorFlow (measured).
    """

    name = "selu"

    def forward(self, z, out=None):
        t = z.dtype.type
        negative = t(SELU_SCALE * SELU_ALPHA) * (np.exp(np.minimum(z, 0)) - 1)  # e^z - 1, as TF
        return _into(np.where(z < 0, negative, t(SELU_SCALE) * z), out)

    def backward(self, dy, y):
        t = y.dtype.type
        return np.where(y < 0, dy * (y + t(SELU_SCALE * SELU_ALPHA)), dy * t(SELU_SCALE))


GELU_C = 0.7978845608028654  # sqrt(2 / pi)
GELU_A = 0.044715
SQRT_PI = 1.7724538509055159  # a Python float: it keeps float32 arrays float32


class GELU(Activation):
    """Gaussian error linear unit, exact by default as ``keras.activations.gelu``
    (``approximate=False``; ``keras.ops.gelu``'s default is the tanh approximation).

    Math (exact):  y = z erfc(-z / sqrt 2) / 2 = z Phi(z),   dz = dy (Phi(z) + z phi(z)),
        phi(z) = e^(-z^2 / 2) / sqrt(2 pi), computed as TensorFlow's tape does
        (r e^(-(r z)^2) / sqrt(pi), r = 1/sqrt 2 rounded to float32 even in float64).
    Math (approximate):  t = tanh(c (z + a z^3)), c = sqrt(2/pi), a = 0.044715,
        y = z (1 + t) / 2,   dz = dy ((1 + t) / 2 + z (1 - t^2) c (1 + 3 a z^2) / 2)
    Not one-to-one (two z give one y below zero), so backward reads z: ``needs_input``.
    """

    name = "gelu"
    needs_input = True

    def __init__(self, approximate=False):
        self.approximate = approximate

    def _constants(self, z):
        # TensorFlow casts a and 1/sqrt(2) from float32 constants (measured; ops.nn.gelu too)
        return (z.dtype.type(np.float32(value)) for value in (GELU_A, np.sqrt(0.5)))

    def forward(self, z, out=None):
        a, r = self._constants(z)
        if self.approximate:
            return _into(0.5 * z * (1 + np.tanh(GELU_C * (z + a * z**3))), out)
        from scipy import special  # here: SciPy's special functions cost 12 MB at import

        return _into(0.5 * z * special.erfc(-z * r), out)

    def backward(self, dy, y, z):
        a, r = self._constants(z)
        if self.approximate:
            t = np.tanh(GELU_C * (z + a * z**3))
            return dy * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * a * z * z))
        from scipy import special

        return dy * (0.5 * special.erfc(-z * r) + z * r / SQRT_PI * np.exp(-np.square(z * r)))


class LeakyReLU(Activation):
    """Math: y = z for z > 0, slope z otherwise.  dz = dy where y > 0, slope dy elsewhere, so
    leaky_relu'(0) = slope (TensorFlow's LeakyReluGrad). y > 0 exactly when z > 0 (slope >= 0).

    The slope is rounded to float32 first, also for float64 inputs: TensorFlow keeps it as a
    float32 attribute of its op (measured: 0.2 acts as 0.20000000298 in float64).
    """

    name = "leaky_relu"

    def __init__(self, negative_slope=0.2):
        if negative_slope < 0:
            raise ValueError(
                f"activations.LeakyReLU: negative_slope must be >= 0, got {negative_slope!r}."
            )
        self.negative_slope = negative_slope

    def _slope(self, a):
        return a.dtype.type(np.float32(self.negative_slope))

    def forward(self, z, out=None):
        return _into(np.where(z > 0, z, z * self._slope(z)), out)

    def backward(self, dy, y):
        return np.where(y > 0, dy, dy * self._slope(y))


class Softplus(Activation):
    """Math: y = log(1 + e^z), as TensorFlow computes it: z where z > -T, e^z where z < T, else
    log1p(e^z), T = log(machine epsilon) + 2 (-13.94 in float32).

    Backward from y: softplus' = sigmoid(z), and e^-y = 1 / (1 + e^z) = 1 - sigmoid(z), so
    dz = dy (1 - e^-y) = -dy expm1(-y), accurate to a few ulps everywhere.
    """

    name = "softplus"

    def forward(self, z, out=None):
        T = np.log(np.finfo(z.dtype).eps) + 2
        with np.errstate(over="ignore"):
            ez = np.exp(z)
            return _into(np.where(z > -T, z, np.where(z < T, ez, np.log1p(ez))), out)

    def backward(self, dy, y):
        return -dy * np.expm1(-y)


class Softsign(Activation):
    """Math: y = z / (1 + |z|).  dz = dy / (1 + |z|)^2, from z as TensorFlow's SoftsignGrad.

    (From y it would be dy (1 - |y|)^2, but 1 - |y| cancels for large |z|: at |z| = 1e4 in
    float32 it keeps 3 digits. So backward reads z: ``needs_input``.)
    """

    name = "softsign"
    needs_input = True

    def forward(self, z, out=None):
        return _into(z / (np.abs(z) + 1), out)

    def backward(self, dy, y, z):
        return dy / np.square(1 + np.abs(z))


class SiLU(Activation):
    """Swish / SiLU.  Math: y = z s, s = sigmoid(z).  dz = dy s (1 + z (1 - s)), as
    TensorFlow's custom gradient of tf.nn.silu. Not one-to-one: ``needs_input``.
    """

    name = "silu"
    needs_input = True

    def forward(self, z, out=None):
        return _into(z * sigmoid.forward(z), out)

    def backward(self, dy, y, z):
        s = sigmoid.forward(z)  # recomputed: cheaper to keep one array (z) than two
        return dy * (s * (1 + z * (1 - s)))


class HardSigmoid(Activation):
    """Math: y = relu6(z + 3) / 6: 0 for z <= -3, 1 for z >= 3, z / 6 + 1/2 between.

    Backward from y: dz = dy / 6 where 0 < y < 1, else 0 (TensorFlow's Relu6Grad: the slope is
    0 at both kinks, z = -3 and z = 3).
    """

    name = "hard_sigmoid"

    def forward(self, z, out=None):
        return _into(np.clip(z + 3, 0, 6) / 6, out)

    def backward(self, dy, y):
        return np.where((y > 0) & (y < 1), dy / 6, 0).astype(dy.dtype, copy=False)


class HardSiLU(Activation):
    """Hard swish.  Math: y = z h, h = hard_sigmoid(z).  dz = dy h + (dy z) / 6 where -3 < z < 3
    (the product rule, as TensorFlow's tape; the second term is 0 at the kinks). Not one-to-one:
    ``needs_input``.
    """

    name = "hard_silu"
    needs_input = True

    def forward(self, z, out=None):
        return _into(z * hard_sigmoid.forward(z), out)

    def backward(self, dy, y, z):
        r = z + 3
        slope = np.where((r > 0) & (r < 6), dy * z / 6, 0).astype(dy.dtype, copy=False)
        return dy * hard_sigmoid.forward(z) + slope


class LogSoftmax(Activation):
    """Math: y = z - max z - log(sum_j e^(z_j - max z)) along the last axis.

    Backward from y (softmax = e^y): dz = dy - e^y sum_j dy_j, as TensorFlow's LogSoftmax grad.
    """

    name = "log_softmax"

    def forward(self, z, out=None):
        shifted = z - z.max(axis=-1, keepdims=True)  # z's shape
        return np.subtract(shifted, np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), out=out)

    def backward(self, dy, y):
        return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)


class Exponential(Activation):
    """Math: y = e^z.  dz = dy y."""

    name = "exponential"

    def forward(self, z, out=None):
        with np.errstate(over="ignore"):
            return np.exp(z, out=out)

    def backward(self, dy, y):
        return dy * y


class ReLU6(Activation):
    """Math: y = min(max(z, 0), 6).  dz = dy where 0 < y < 6, else 0 (TensorFlow's Relu6Grad:
    0 at both kinks)."""

    name = "relu6"

    def forward(self, z, out=None):
        return np.clip(z, 0, 6, out=out)

    def backward(self, dy, y):
        return np.where((y > 0) & (y < 6), dy, 0).astype(dy.dtype, copy=False)


class Mish(Activation):
    """Math: y = z t, t = tanh(softplus(z)).  dz = dy t + (dy z) (1 - t^2) sigmoid(z), the
    product and chain rules as TensorFlow's tape applies them. Not one-to-one: ``needs_input``.
    """

    name = "mish"
    needs_input = True

    def forward(self, z, out=None):
        return _into(z * np.tanh(softplus.forward(z)), out)

    def backward(self, dy, y, z):
        t = np.tanh(softplus.forward(z))
        with np.errstate(over="ignore"):
            return dy * t + (dy * z) * (1 - t * t) / (1 + np.exp(-z))


class FunctionActivation(Activation):
    """Any function of one tensor, written with ``scratchnet.ops``, as an activation.

    ``activations.get(my_fn)`` wraps ``my_fn``. Its derivative is found by autodiff: backward
    runs ``my_fn`` again on z while recording (``ops.core.record_gradients``) and backpropagates
    dy through the recorded ops (``ops.core.gradients``). Running it again costs one more forward
    pass, and spares the layer from keeping a graph: it keeps z only (``needs_input``).

    The function must be elementwise (or act along the last axis): Conv2D applies it to a chunk
    of images at a time. A raw NumPy call inside it works in inference but is refused in
    training (NumPy keeps no gradient), with the name of the op to use instead.

    Math: y = f(z);  dz = (df/dz)^T dy, by reverse-mode autodiff.
    """

    needs_input = True

    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def forward(self, z, out=None):
        y = convert_to_tensor(self.fn(Tensor(z))).value.astype(z.dtype, copy=False)
        return _into(y, out)

    def backward(self, dy, y, z):
        zt = Tensor(z, requires_grad=True)
        with record_gradients():
            yt = convert_to_tensor(self.fn(zt))
        (dz,) = gradients(yt, dy, [zt])
        return np.zeros_like(z) if dz is None else dz.astype(z.dtype, copy=False)

    def __call__(self, z):
        """On a Tensor (inside a layer's ``call``), the function itself: its ops record."""
        if not isinstance(z, Tensor):
            return self.forward(np.asarray(z))
        return convert_to_tensor(self.fn(z))

    def __repr__(self):
        return f"<activation {self.name} (a function, differentiated by autodiff)>"


linear = Linear()
relu = ReLU()
sigmoid = Sigmoid()
tanh = Tanh()
softmax = Softmax()
elu = ELU()
selu = SELU()
gelu = GELU()
leaky_relu = LeakyReLU()
softplus = Softplus()
softsign = Softsign()
silu = SiLU()
swish = silu  # Keras's other name for it; saved as 'silu', as Keras saves it
hard_sigmoid = HardSigmoid()
hard_silu = HardSiLU()
hard_swish = hard_silu
log_softmax = LogSoftmax()
exponential = Exponential()
relu6 = ReLU6()
mish = Mish()

_BY_NAME = {
    a.name: a
    for a in (linear, relu, sigmoid, tanh, softmax, elu, selu, gelu, leaky_relu, softplus,
              softsign, silu, hard_sigmoid, hard_silu, log_softmax, exponential, relu6, mish)
}  # fmt: skip
_BY_NAME.update(swish=silu, hard_swish=hard_silu)


def get(identifier):
    """Resolve None, a name ('relu'), an Activation object, or a function written with ops.

    A function (or any other callable) becomes a ``FunctionActivation``, differentiated by
    autodiff.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise ValueError(
            f"Unknown activation {identifier!r}. Expected one of {sorted(_BY_NAME)}, "
            "an object from scratchnet.activations, or a function written with scratchnet.ops."
        )
    if callable(identifier):
        return FunctionActivation(identifier)
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":
        return FunctionActivation(_function_from_entry(identifier))  # what serialize wrote
    raise ValueError(
        f"Cannot use {identifier!r} as an activation. Pass a name such as 'relu', an object "
        "from scratchnet.activations (for example scratchnet.activations.relu), or a function "
        "of one tensor written with scratchnet.ops."
    )


def serialize(activation):
    """The Keras config of an activation: its name ('relu'); for a function of yours, the entry
    Keras writes, ``{"module": "builtins", "class_name": "function", "config": "my_act",
    "registered_name": "function"}`` (``"config"`` is ``"Custom>my_act"`` once it is registered
    with ``scratchnet.saving.register_keras_serializable``). A lambda has no name to write: it
    stays the function, and saving it is refused with the reason."""
    activation = get(activation)
    if not isinstance(activation, FunctionActivation):
        return activation.name
    fn = activation.fn
    if getattr(fn, "__name__", "<lambda>") == "<lambda>":
        return fn
    # a leaf module: imported here because scratchnet.saving itself imports the layers
    from .saving.object_registration import get_registered_name

    return {
        "module": "builtins",
        "class_name": "function",
        "config": get_registered_name(fn),
        "registered_name": "function",
    }


def _function_from_entry(entry):
    """The function of yours that ``serialize`` wrote as ``entry`` (registered, or in a
    ``custom_object_scope``)."""
    from .saving.object_registration import get_registered_object  # see serialize

    name = entry.get("config")
    if isinstance(name, str):
        for candidate in (name, name.split(">")[-1]):
            found = get_registered_object(candidate)
            if found is not None:
                return found
    raise ValueError(
        f"Cannot find the activation function {name!r}. Register it with "
        "@scratchnet.saving.register_keras_serializable() above its definition, or pass the "
        "function itself instead of its config."
    )
