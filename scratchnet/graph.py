"""Symbolic tensors: what ``Input(shape)`` returns and what layers return when called on one.

A symbolic tensor has a shape (batch axis ``None``) and remembers which layer call made it, so a
chain of calls ``y = Dense(10)(Flatten()(Input((28, 28, 1))))`` describes a graph without any
data. ``Sequential`` uses it to learn its input shape; ``Model(inputs, outputs)`` replays it.

Example:
    >>> from scratchnet import Input, layers
    >>> x = Input((28, 28, 1))
    >>> layers.Flatten()(x).shape
    (None, 784)
"""

from . import config


class SymbolicTensor:
    """A placeholder for a batch of data: a shape, a dtype and the layer call that produced it."""

    def __init__(self, shape, dtype=None, layer=None, inputs=(), name=None):
        self.shape = tuple(shape)
        self.dtype = dtype or config.floatx()
        self.layer = layer  # the layer whose call made this tensor (None for an Input)
        self.inputs = list(inputs)  # the symbolic tensors that call read
        self.name = name
        # A call may return several tensors (an LSTM with return_state=True: output, h, c).
        # Each is one of the call's ``outputs``, at ``index``: Keras's ``lstm[0][index]``.
        self.index = 0
        self.outputs = [self]
        self.input_layer = None  # for a model input: the InputLayer whose output it is
        # Which call of ``layer`` made it: 0 for its first call on symbolic tensors, 1 for the
        # next (a shared layer), ... Keras's node index (``shared[1][0]`` in a summary).
        self.node_index = 0

    @property
    def first(self):
        """The call's first output: the one tensor that stands for the call in a graph."""
        return self.outputs[0]

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} name={self.name}>"


def is_symbolic(x):
    if isinstance(x, (list, tuple)):
        return any(isinstance(t, SymbolicTensor) for t in x)
    return isinstance(x, SymbolicTensor)


def call_symbolic(layer, x):
    """``layer(x)`` for symbolic ``x``: build the layer from shapes and return a new tensor."""
    inputs = list(x) if isinstance(x, (list, tuple)) else [x]
    shapes = [t.shape for t in inputs]
    for s in shapes:
        layer.check_input_shape(s)
    shape_arg = shapes if isinstance(x, (list, tuple)) else shapes[0]
    if not layer.built:
        layer.build_from_shape(shape_arg)
    out_shape = layer.compute_output_shape(shape_arg)
    if not is_shape_list(out_shape):
        return remember_call(layer, x, SymbolicTensor(out_shape, layer.dtype.name, layer, inputs))
    outputs = [SymbolicTensor(s, layer.dtype.name, layer=layer, inputs=inputs) for s in out_shape]
    for index, t in enumerate(outputs):  # one call, several tensors: they know each other
        t.index, t.outputs = index, outputs
    return remember_call(layer, x, outputs)


def remember_call(layer, x, out):
    """Number the call (``node_index``) and keep the layer's first symbolic call, for
    ``layer.input`` and ``layer.output``."""
    calls = layer.__dict__.get("_symbolic_calls", 0)
    for t in out if isinstance(out, list) else [out]:
        t.node_index = calls
    layer.__dict__["_symbolic_calls"] = calls + 1
    layer.__dict__["_last_symbolic_output"] = out  # the shape summary() shows, as Keras's
    if layer.__dict__.get("_symbolic_call") is None:
        layer.__dict__["_symbolic_call"] = (x, out)
    return out


def is_shape_list(shape):
    """Whether ``compute_output_shape`` gave several shapes (a list of tuples), not one shape."""
    return (
        isinstance(shape, (list, tuple))
        and bool(shape)
        and all(isinstance(s, (list, tuple)) for s in shape)
    )
