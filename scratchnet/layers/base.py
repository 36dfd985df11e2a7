"""The Layer base class and the tape that turns layer calls into a graph for backprop.

Every model in scratchnet (Sequential, Functional, subclassed) runs its forward pass as a series
of layer calls. While a model trains, a ``Tape`` is open and each ``layer(x)`` call appends a
``Node(layer, inputs, output)`` to it. Backprop then walks the tape in reverse:

    for node in reversed(tape.nodes):
        dx = node.layer.backward(dL/d(node.output))
        add dx into dL/d(input) for each input    # a tensor used twice sums its gradients

That is the whole engine. Sequential is the simplest case: a chain of nodes.

A layer subclass writes:

* ``build(input_shape)``: create parameters with ``add_weight`` (Keras's names and layouts);
* ``compute_output_shape(input_shape)``: shapes with ``None`` for the batch, so ``summary()``
  needs no data;
* ``forward(x, training)``: the math; when ``training`` is true, cache exactly what backward needs;
* ``backward(dy, need_dx=True) -> dx``: the chain rule; store parameter gradients in
  ``self.grads`` under the parameter's name; never modify ``dy``. With ``need_dx=False`` (the
  first layer: nobody needs dL/d(image)) it may skip computing dx and return None.
"""

import re
from collections import defaultdict

import numpy as np

from .. import config

# ----------------------------------------------------------------------------- names

_NAME_COUNTS = defaultdict(int)


def to_snake_case(name):
    """Keras's rule: 'MaxPooling2D' -> 'max_pooling2d', 'Conv2D' -> 'conv2d'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """'conv2d', then 'conv2d_1', 'conv2d_2', ... per process, as Keras names layers."""
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Reset the automatic layer and model name counters (like ``keras.utils.clear_session``)."""
    _NAME_COUNTS.clear()


def shape_str(shape):
    """(None, 28, 28, 1) printed as Keras prints it."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


# ----------------------------------------------------------------------------- the tape


class Node:
    """One recorded layer call: ``output = layer(*inputs)``."""

    __slots__ = ("layer", "inputs", "output")

    def __init__(self, layer, inputs, output):
        self.layer = layer
        self.inputs = inputs  # list of arrays the layer read
        self.output = output  # the array it returned


class Tape:
    """Records the layer calls of one forward pass (see the module docstring).

    Tensors are identified by ``id()``; the tape keeps a reference to each one so an id cannot be
    reused while the tape lives.
    """

    _active = None  # the tape currently recording, if any

    def __init__(self, training=False):
        self.training = training  # the mode a layer call without training= inherits, as in Keras
        self.nodes = []
        self.sources = set()  # ids of the model inputs: their gradient is not needed
        self.known = {}  # id -> array for every tensor the tape has seen

    def watch(self, x):
        """Mark ``x`` as a model input."""
        self.sources.add(id(x))
        self.known[id(x)] = x

    def record(self, layer, inputs, output, training=False):
        if training and any(node.layer is layer for node in self.nodes):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) was called twice in one training "
                "forward pass. A scratchnet layer caches what its backward needs from one call "
                "only, so the second call would overwrite the first call's cache and give wrong "
                "gradients. Create a separate layer for each use."
            )
        for x in inputs:
            if id(x) not in self.known:
                raise ValueError(
                    f"Layer '{layer.name}' ({type(layer).__name__}) was called on an array that no "
                    "scratchnet layer produced and that is not a model input, so backprop has no "
                    "way to send a gradient through it. This happens when call() applies raw NumPy "
                    "arithmetic (x * 2, np.concatenate, ...) to a tensor that needs gradients. Do "
                    "that work in a layer instead (for example layers.Add, layers.Concatenate, "
                    "layers.Activation), so its backward rule is known."
                )
        self.nodes.append(Node(layer, list(inputs), output))
        self.known[id(output)] = output

    def __enter__(self):
        if Tape._active is not None:
            raise RuntimeError("A scratchnet Tape is already recording; tapes do not nest.")
        Tape._active = self
        return self

    def __exit__(self, *exc):
        Tape._active = None
        return False

    def backward(self, output, doutput):
        """Backprop ``doutput = dL/d(output)`` through every recorded node, last call first.

        Returns nothing: each layer stores its parameter gradients in ``layer.grads``.
        """
        if id(output) not in self.known:
            raise ValueError(
                "The model's output was not produced by a scratchnet layer, so there is no "
                "recorded path to backprop through. If call() ends with raw NumPy arithmetic, "
                "move that step into a layer."
            )
        grads = {id(output): doutput}  # id(tensor) -> dL/d(tensor), summed over its consumers
        for node in reversed(self.nodes):
            dy = grads.pop(id(node.output), None)
            if dy is None:  # this output does not reach the loss
                continue
            need_dx = any(id(x) not in self.sources for x in node.inputs)
            dxs = node.layer.backward(dy, need_dx=need_dx)
            if not need_dx:
                continue
            if len(node.inputs) == 1:
                dxs = [dxs]
            for x, dx in zip(node.inputs, dxs):
                if id(x) in self.sources:
                    continue
                # The lesson of backprop over a graph: a tensor read by two layers receives the
                # sum of both gradients (the multivariable chain rule).
                key = id(x)
                grads[key] = dx if key not in grads else grads[key] + dx


# ----------------------------------------------------------------------------- layers


class Layer:
    """Base class of every scratchnet layer.

    Args:
        name: a unique name; by default the snake-cased class name with a counter
            (``conv2d``, ``conv2d_1``, ...), as in Keras.
        input_shape: the shape of one sample, without the batch axis. Only meaningful on the first
            layer of a Sequential model, as in Keras.
        trainable: whether an optimizer updates this layer's parameters.
    """

    input_ndim = None  # the rank this layer needs, batch axis included (None: any)
    min_ndim = None  # or the smallest rank it accepts

    def __init__(self, name=None, input_shape=None, trainable=True, dtype=None, **kwargs):
        if "input_dim" in kwargs:  # Dense(…, input_dim=784) is Keras 2 for input_shape=(784,)
            input_shape = (kwargs.pop("input_dim"),)
        if "batch_input_shape" in kwargs:
            input_shape = tuple(kwargs.pop("batch_input_shape"))[1:]
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}. "
                "Check the spelling against the Keras documentation of this layer."
            )
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.trainable = trainable
        self.dtype = np.dtype(dtype or config.floatx())
        self.built = False
        self.input_shape = None  # (None, ...) once built
        self.params = {}  # name -> array, in Keras's weight order (kernel, then bias)
        self.grads = {}  # name -> dL/d(param), set by backward
        self.fused_with_loss = False  # set by compile(): the loss gives dL/dz directly
        # A softmax or sigmoid layer keeps its logits z for a fused loss. Sequential and
        # Functional models switch this off for their inner layers while they run.
        self.keep_logits = True

    # -- parameters ----------------------------------------------------------------------------

    def add_weight(self, name, shape, initializer):
        """Create a parameter with Keras's ``name`` and ``shape``, filled by ``initializer``."""
        value = np.ascontiguousarray(initializer(tuple(shape), self.dtype), dtype=self.dtype)
        self.params[name] = value
        return value

    @property
    def weights(self):
        return list(self.params.values())

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    def get_weights(self):
        """Copies of the parameters, in Keras's order (kernel, bias)."""
        return [w.copy() for w in self.params.values()]

    def set_weights(self, weights):
        """Overwrite the parameters in place from a list in Keras's order and layout."""
        weights = list(weights)
        if len(weights) != len(self.params):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) has {len(self.params)} weight "
                f"array(s) {list(self.params)}, but set_weights got {len(weights)}. "
                + (
                    "Build the layer first (call it on data or give input_shape). "
                    if not self.built
                    else ""
                )
            )
        for (pname, current), new in zip(self.params.items(), weights):
            new = np.asarray(new)
            if new.shape != current.shape:
                hint = ""
                if new.ndim == current.ndim and sorted(new.shape) == sorted(current.shape):
                    hint = (
                        " It looks transposed or in another layout: scratchnet uses Keras's "
                        "layouts."
                    )
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): weight '{pname}' has shape "
                    f"{current.shape}, but set_weights got shape {new.shape}.{hint}"
                )
            current[...] = new  # in place: optimizers and caches keep pointing at the same array

    def count_params(self):
        return int(sum(w.size for w in self.params.values()))

    # -- shapes --------------------------------------------------------------------------------

    def check_input_shape(self, shape):
        """Raise a clear error if an input of ``shape`` (batch axis included) cannot work."""
        ndim = len(shape)
        if self.input_ndim is not None and ndim != self.input_ndim:
            hint = ""
            if self.input_ndim == 4 and ndim == 3:
                hint = (
                    " For single-channel images such as MNIST, add a channel axis: "
                    "x[..., None] (or np.expand_dims(x, -1)) gives (N, H, W, 1)."
                )
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects a {self.input_ndim}-D input "
                f"{self.input_layout()}, but got shape {tuple(shape)}.{hint}"
            )
        if self.min_ndim is not None and ndim < self.min_ndim:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects an input with at least "
                f"{self.min_ndim} dimensions, but got shape {tuple(shape)}."
            )
        if self.built and self.input_shape is not None:
            expected = self.input_shape[1:]
            if len(expected) == ndim - 1 and any(
                e is not None and e != a for e, a in zip(expected, shape[1:])
            ):
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) was built for inputs of shape "
                    f"{shape_str(self.input_shape)}, but got {tuple(shape)}. Every batch must "
                    "have the same per-sample shape as the data the layer was built on."
                )

    def input_layout(self):
        return "(batch, height, width, channels)" if self.input_ndim == 4 else ""

    def build(self, input_shape):
        """Create the parameters for inputs of ``input_shape`` (batch axis first, may be None)."""
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # -- calling -------------------------------------------------------------------------------

    def __call__(self, x, training=None):
        """Build on first use, check the input, run ``forward``, and record the call on a tape.

        ``training=None`` (a call inside a model's ``call`` that does not pass it) inherits the mode
        of the model call being recorded, as in Keras; outside a model it means inference.
        Calling a layer on a symbolic tensor (``Input(...)``) instead builds a graph; see
        ``scratchnet.models``.
        """
        from .. import graph  # late import: graph builds on this module

        if graph.is_symbolic(x):
            return graph.call_symbolic(self, x)
        inputs = x if isinstance(x, (list, tuple)) else [x]
        inputs = [self._cast(t) for t in inputs]
        shapes = [t.shape for t in inputs]
        for s in shapes:
            self.check_input_shape(s)
        if not self.built:
            self.build(shapes if isinstance(x, (list, tuple)) else shapes[0])
        tape = Tape._active
        if training is None:
            training = tape.training if tape is not None else False
        y = self.forward(inputs if isinstance(x, (list, tuple)) else inputs[0], training=training)
        if tape is not None:
            tape.record(self, list(x) if isinstance(x, (list, tuple)) else [x], y, training)
        return y

    def _cast(self, t):
        t = np.asarray(t)
        return t if t.dtype == self.dtype else t.astype(self.dtype)

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy, need_dx=True):
        raise NotImplementedError

    # -- config --------------------------------------------------------------------------------

    def get_config(self):
        """The layer's constructor arguments with Keras's keys (used by save and summary)."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class ActivationMixin:
    """Shared by Dense and Activation, which end with an activation (Conv2D applies its own per
    chunk, see ``scratchnet.ops.conv``).

    ``_activate`` runs the activation and caches what its backward needs; ``_activation_backward``
    is the chain rule through it. When a cross-entropy loss is fused with this layer's softmax or
    sigmoid (``fused_with_loss``, set by the model during that backward pass), the loss already
    hands back dL/dz = (p - y)/N, so the activation's backward is skipped, exactly as
    Keras/TensorFlow do.
    """

    def _activate(self, z, training, owned=True):
        """y = activation(z). If ``owned``, z is this layer's fresh array and may be overwritten."""
        if self.keep_logits and self.activation.name in ("softmax", "sigmoid"):
            self.logits = z  # kept: a cross-entropy loss may fuse with this activation
            y = self.activation.forward(z)
        else:
            self.logits = None
            # In place when z is ours: one array less to allocate on the hot path.
            y = self.activation.forward(z, out=z if owned else None)
        if training:
            self._y = y  # every activation's backward needs only its output
        return y

    def _activation_backward(self, dy):
        if self.fused_with_loss:
            return dy
        return self.activation.backward(dy, self._y)
