"""The Layer base class: building, shape checks, weights, calling and recording on the tape.

A layer subclass writes:

* ``build(input_shape)``: create parameters with ``add_weight`` (Keras's names and layouts);
* ``compute_output_shape(input_shape)``: shapes with ``None`` for the batch, so ``summary()``
  needs no data;
* ``forward(x, training)``: the math; when ``training`` is true, cache exactly what backward needs;
* ``backward(dy, need_dx=True) -> dx``: the chain rule; store parameter gradients in
  ``self.grads`` under the parameter's name; never modify ``dy``. With ``need_dx=False`` (the
  first layer: nobody needs dL/d(image)) it may skip computing dx and return None.

A layer that ends in an activation (Dense, Conv2D, Activation) splits its backward in two, the
chain rule's two steps: ``backward`` goes through the activation, dz = activation'(dy), then
calls ``backward_from_logits(dz)``, the rest. A loss fused with a softmax or sigmoid output
(``scratchnet.losses.ActivationWithLoss``) starts at the second.

Calling a layer (``Layer.__call__``) builds it on first use, checks the input, runs ``forward``
and records the call on the open tape (``scratchnet.tape``), which backprop replays in reverse.
"""

import numpy as np

from .. import config, graph
from ..naming import shape_str, to_snake_case, unique_name
from ..tape import Tape


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
        # A softmax or sigmoid layer keeps its logits z (``self.logits``) for a loss fused with
        # it; models switch this off for their inner layers (see losses.ActivationWithLoss).
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
