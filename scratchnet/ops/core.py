"""Reverse-mode autodiff over arrays: micrograd's engine, with NumPy arrays instead of scalars.

A ``Tensor`` holds a NumPy array (``value``) and, when it was computed by an op while a gradient
was wanted, how: the tensors it was computed from (``parents``) and the op's backward rule
(``backward``: dL/d(this) -> dL/d(each parent)). Every op in ``scratchnet.ops`` is written the
same way, its backward rule right under its forward rule:

    def multiply(x1, x2):
        x1, x2 = promote(x1, x2)
        def backward(dy):                        # d(x1 * x2) = dy * x2, dy * x1
            return dy * x2.value, dy * x1.value
        return record(x1.value * x2.value, (x1, x2), backward)

``gradients(output, doutput)`` then walks the recorded graph from the output back to the leaves,
last op first, like ``scratchnet.tape`` walks layer calls:

    for t in reversed(topological_order):
        for parent, g in zip(t.parents, t.backward(grad[t])):
            grad[parent] += unbroadcast(g, parent.shape)    # a tensor used twice sums

Two details every op gets from ``record``, so no op can forget them:

* **Broadcasting.** ``x + b`` with x (N, D) and b (D,) uses b N times, so dL/db sums dL/dy over
  the axes that broadcasting added or stretched (``unbroadcast``).
* **No gradient where there is none.** Integer and boolean tensors (indices, masks, the result
  of a comparison, ``argmax``) pass no gradient, as in Keras: their backward is never asked.

Recording happens only inside ``record_gradients()`` (a model's training step, or a custom
layer's forward pass in training). Elsewhere ops compute values and keep no graph.
"""

import contextlib
import itertools
import threading

import numpy as np

from .dtypes import result_type

_STATE = threading.local()  # whether ops record, per thread
_STRUCTURE = [0]  # bumped whenever a weight is made or a trainable flag changes


def structure_changed():
    """Note that some model's trainable weights may have changed (a new weight, a frozen layer):
    models keep their list of what to update until this number moves (``structure_version``)."""
    _STRUCTURE[0] += 1


def structure_version():
    return _STRUCTURE[0]


_SERIALS = itertools.count()  # creation order: a tensor is made after its parents


def recording():
    """True inside ``record_gradients()``: ops then keep what backprop needs."""
    return getattr(_STATE, "recording", False)


@contextlib.contextmanager
def record_gradients(enabled=True):
    """Within this block, ops on tensors that need a gradient record their backward rule."""
    previous = recording()
    _STATE.recording = enabled
    try:
        yield
    finally:
        _STATE.recording = previous


def differentiable(dtype):
    """Only float tensors carry gradients (ints and bools are counts, indices, masks)."""
    return np.dtype(dtype).kind == "f"


class Tensor:
    """An array, and (when a gradient is wanted) the op that made it from its parents.

    Args:
        value: the array (any NumPy dtype, 0-d for a scalar).
        parents: the tensors the op read, in the order its backward returns their gradients.
        backward: ``dL/d(this) -> tuple of dL/d(parent)`` (None for a parent with no gradient).
        requires_grad: for a leaf (a weight, or an input whose gradient is wanted).

    The tensors a layer's ``call`` receives are Tensors: they take Python's operators
    (``+ - * / ** @``, unary ``-``, indexing, comparisons) as ``scratchnet.ops`` functions, and
    NumPy reads their values (``np.asarray(t)``, ``t.numpy()``).
    """

    __array_priority__ = 1000  # ndarray (op) Tensor defers to the Tensor's reflected operator

    def __init__(self, value, parents=(), backward=None, requires_grad=False, name=None):
        self.value = value if isinstance(value, np.ndarray) else np.asarray(value)
        self.parents = parents
        self.backward = backward
        self.requires_grad = requires_grad or any(p.requires_grad for p in parents)
        self.name = name
        self.layer = None  # the built-in layer whose call made it, if one did (fused losses)
        self.serial = next(_SERIALS)  # made after every tensor it was computed from

    # -- what NumPy and Keras users read -------------------------------------------------------

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype.name

    @property
    def ndim(self):
        return self.value.ndim

    def numpy(self):
        """The value as a NumPy array (a copy is not made: do not write into it)."""
        return self.value

    def __array__(self, dtype=None, copy=None):
        value = self.value if dtype is None else self.value.astype(dtype, copy=False)
        return value.copy() if copy else value

    def __len__(self):
        return len(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __bool__(self):
        return bool(self.value)

    def __repr__(self):
        return f"<Tensor shape={self.shape} dtype={self.dtype}\n{self.value!r}>"

    # -- NumPy functions on a tensor -------------------------------------------------------------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``ndarray + tensor`` (and the other operators) comes here: it is the op's. Any other
        NumPy function on a tensor that needs a gradient would lose it, so it is refused."""
        op = OPERATOR_UFUNCS.get(ufunc.__name__)
        if method == "__call__" and op is not None and not kwargs:
            return OPS[op](*inputs)
        return _refuse_or_compute(f"np.{ufunc.__name__}", inputs, kwargs, ufunc, method)

    # -- Python's operators: the ops of the same names ----------------------------------------

    __hash__ = object.__hash__  # by identity: == is elementwise, as in Keras

    def __add__(self, other):
        return OPS["add"](self, other)

    def __radd__(self, other):
        return OPS["add"](other, self)

    def __sub__(self, other):
        return OPS["subtract"](self, other)

    def __rsub__(self, other):
        return OPS["subtract"](other, self)

    def __mul__(self, other):
        return OPS["multiply"](self, other)

    def __rmul__(self, other):
        return OPS["multiply"](other, self)

    def __truediv__(self, other):
        return OPS["divide"](self, other)

    def __rtruediv__(self, other):
        return OPS["divide"](other, self)

    def __pow__(self, other):
        return OPS["power"](self, other)

    def __rpow__(self, other):
        return OPS["power"](other, self)

    def __matmul__(self, other):
        return OPS["matmul"](self, other)

    def __rmatmul__(self, other):
        return OPS["matmul"](other, self)

    def __neg__(self):
        return OPS["negative"](self)

    def __abs__(self):
        return OPS["abs"](self)

    def __getitem__(self, key):
        return OPS["getitem"](self, key)

    def __eq__(self, other):
        return OPS["equal"](self, other)

    def __ne__(self, other):
        return OPS["not_equal"](self, other)

    def __lt__(self, other):
        return OPS["less"](self, other)

    def __le__(self, other):
        return OPS["less_equal"](self, other)

    def __gt__(self, other):
        return OPS["greater"](self, other)

    def __ge__(self, other):
        return OPS["greater_equal"](self, other)

    def __array_function__(self, func, types, args, kwargs):
        return _refuse_or_compute(f"np.{func.__name__}", args, kwargs, func, None)


def _refuse_or_compute(what, args, kwargs, func, method):
    """A raw NumPy function on tensors: an error if one needs a gradient, else NumPy's answer."""
    tensors = [a for a in _flatten(args) if isinstance(a, Tensor)]
    if any(t.requires_grad for t in tensors) and recording():
        name = what.split(".")[-1]
        raise TypeError(
            f"{what} was called on a scratchnet tensor that needs a gradient. NumPy does not "
            "record how it computed its result, so backprop could not go back through it. Use "
            f"the op instead: scratchnet.ops.{_OP_HINTS.get(name, name)}(...) (every op of "
            "keras.ops records its backward rule). To read the values, use np.asarray(x) or "
            "x.numpy(), knowing the gradient stops there."
        )
    args = _unwrap(args)
    kwargs = _unwrap(kwargs)
    if method is None:
        return func(*args, **kwargs)
    return getattr(func, method)(*args, **kwargs)


_OP_HINTS = {"true_divide": "divide", "concatenate": "concatenate", "absolute": "abs"}


def _flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def _unwrap(obj):
    if isinstance(obj, Tensor):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


OPS = {}  # op name -> op function, filled by the op modules (``register``)


def register(fn):
    """Make ``fn`` the op that Python's operators and ``ndarray (op) tensor`` call by its name."""
    OPS[fn.__name__] = fn
    return fn


# The ufuncs NumPy calls for Python's operators, and the ops that compute them.
OPERATOR_UFUNCS = {
    "add": "add",
    "subtract": "subtract",
    "multiply": "multiply",
    "true_divide": "divide",
    "divide": "divide",  # NumPy 2's name for true_divide
    "power": "power",
    "negative": "negative",
    "matmul": "matmul",
    "equal": "equal",
    "not_equal": "not_equal",
    "greater": "greater",
    "greater_equal": "greater_equal",
    "less": "less",
    "less_equal": "less_equal",
}


def record(value, parents, backward):
    """The result of an op: a Tensor that remembers its parents and backward rule if a gradient
    is wanted (recording, and some parent needs one), else a plain constant Tensor.

    ``backward(dy)`` returns one gradient per parent (or None); ``gradients`` sums each over
    the axes that broadcasting stretched. A result that is not a float passes no gradient.
    """
    value = np.asarray(value)
    if recording() and differentiable(value.dtype) and any(p.requires_grad for p in parents):
        return Tensor(value, tuple(parents), backward)
    return Tensor(value)


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the gradient of broadcasting an array of ``shape`` up.

    Math: y = broadcast(x) copies x along the new leading axes and along its axes of length 1,
    so dL/dx adds up dL/dy over exactly those axes.
    """
    grad = np.asarray(grad)
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def gradients(output, doutput, sources, kept=None):
    """dL/d(source) for each of ``sources``, backpropagating ``doutput`` = dL/d(output).

    ``output`` and ``doutput`` may be lists (several outputs feeding one loss, e.g. a model's
    output and the losses its layers added). Walks the graph recorded under the outputs last op
    first (a topological order: every tensor after all the tensors computed from it); a tensor
    read by several ops receives the sum of their gradients. A source that does not reach an
    output gets None.

    ``kept`` (a dict, for ``scratchnet.drawing``) also receives every gradient:
    ``kept[id(t)] = (t, dL/dt)`` summed over t's readers, ``kept[(id(t), i)]`` what t sent
    back to its i-th parent.
    """
    outputs = output if isinstance(output, (list, tuple)) else [output]
    seeds = doutput if isinstance(output, (list, tuple)) else [doutput]
    order, seen = [], set()
    for out in outputs:  # depth first, each tensor after its parents: reversed, a backprop order
        stack = [(out, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents if p.requires_grad)
    order.sort(key=_creation_order)
    grads = {}
    for out, seed in zip(outputs, seeds):
        g = np.broadcast_to(np.asarray(seed, dtype=out.value.dtype), out.shape)
        grads[id(out)] = g if id(out) not in grads else grads[id(out)] + g
    for t in reversed(order):
        g = grads.get(id(t))
        if kept is not None and g is not None:
            kept[id(t)] = (t, g)
        if g is None or t.backward is None:
            continue
        for i, (parent, pg) in enumerate(zip(t.parents, t.backward(g))):
            if pg is None or not parent.requires_grad:
                continue
            pg = unbroadcast(pg, parent.shape).astype(parent.value.dtype, copy=False)
            if kept is not None:
                kept[(id(t), i)] = pg
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
    return [grads.get(id(s)) for s in sources]


def _creation_order(t):
    return t.serial


def convert_to_tensor(x, dtype=None, sparse=None):
    """``x`` as a Tensor, as ``keras.ops.convert_to_tensor`` on TensorFlow: a Python float (or a
    list of them) becomes float32 whatever floatx is, a Python int (or list) int32, a bool
    bool; NumPy arrays and scalars keep their dtype (measured on Keras 3.15)."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == np.dtype(dtype).name else cast(x, dtype)
    if dtype is not None:
        return Tensor(np.asarray(x, dtype=np.dtype(dtype)))
    if type(x) is bool:
        return Tensor(np.asarray(x))
    if type(x) is int:
        return Tensor(np.asarray(x, dtype=np.int32))
    if type(x) is float:
        return Tensor(np.asarray(x, dtype=np.float32))  # float32 even in float64 (measured)
    array = np.asarray(x)
    if isinstance(x, (list, tuple)) and array.dtype == np.float64:
        array = array.astype(np.float32)  # a Python list of floats: float32, as Keras
    elif isinstance(x, (list, tuple)) and array.dtype == np.int64:
        array = array.astype(np.int32)  # a Python list of ints
    return Tensor(array)


def cast(x, dtype):
    """``x`` in ``dtype``. Between floats the gradient is cast back; to an int, no gradient."""
    x = convert_to_tensor(x)
    dtype = np.dtype(dtype)

    def backward(dy):  # d cast(x) / dx = 1, in x's dtype
        return (dy.astype(x.value.dtype),)

    return record(x.value.astype(dtype), (x,), backward)


class Variable(Tensor):
    """A weight: a leaf tensor whose array the optimizer updates in place (``keras.Variable``).

    ``layer.add_weight`` makes one; its ``value`` is the very array the layer computes with, so
    ``assign`` and the optimizer change what the layer sees, and NumPy reads it like an array.

    Args:
        value: the array (kept, not copied).
        trainable: whether the optimizer updates it (then it needs a gradient).
        name: Keras's name for it, e.g. 'kernel'.
    """

    def __init__(self, value, trainable=True, name=None):
        self.value = value
        self.parents, self.backward, self.layer = (), None, None
        self.serial = next(_SERIALS)
        self.trainable = trainable
        self.name = name

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        structure_changed()  # a model's list of what it trains is now out of date

    @property
    def requires_grad(self):
        return self.trainable and differentiable(self.value.dtype)

    @property
    def path(self):
        return self.name

    def assign(self, value):
        """Overwrite the values in place (the shape stays): ``v.assign(v * 0.9)``."""
        self.value[...] = np.asarray(value, dtype=self.value.dtype)
        return self

    def assign_add(self, value):
        self.value += np.asarray(value, dtype=self.value.dtype)
        return self

    def assign_sub(self, value):
        self.value -= np.asarray(value, dtype=self.value.dtype)
        return self

    def __repr__(self):
        return f"<Variable name={self.name} shape={self.shape} dtype={self.dtype}>"


def dtype_of(x):
    """What Keras's type promotion sees: a tensor's or array's dtype, or a Python scalar's type
    (``int`` and ``float`` are weak)."""
    if isinstance(x, (Tensor, np.ndarray, np.generic)):
        return np.dtype(x.dtype).name
    if isinstance(x, (bool, int, float)):
        return type(x)
    return convert_to_tensor(x).dtype


def promote(*xs, also=()):
    """The tensors ``xs`` cast to the dtype Keras gives their combination (``dtypes``), with
    ``also`` (e.g. ``float``: the result is at least a float) in the promotion."""
    dtype = result_type(*(dtype_of(x) for x in xs), *also)
    return [convert_to_tensor(x, dtype) for x in xs]
