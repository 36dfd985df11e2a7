"""Layers written the Keras way: ``call`` with ``scratchnet.ops``, differentiated by autodiff.

A built-in layer has a hand-written ``forward`` and ``backward`` (the lesson). A layer you write
as Keras teaches has only ``call``: its ops record their backward rules as they run
(``scratchnet.ops.core``), and backprop walks them back. Both kinds meet here:

* **arrays in** (the layer is called by a Sequential or Functional model, or on NumPy data):
  ``autodiff_forward`` runs ``call`` on Tensors that record, and keeps the graph;
  ``autodiff_backward`` walks it back from dL/d(output), giving dL/d(inputs) and each weight's
  gradient. To the model's tape (``scratchnet.tape``) the layer is one node, like any other.
* **Tensors in** (the layer is called inside another layer's or a subclassed model's ``call``):
  a layer written with ``call`` simply runs it, so its ops join the caller's graph; a built-in
  layer becomes one op of that graph (``layer_op``), whose backward rule is its hand-written
  ``backward``.
* **a symbolic Input**: the output shape comes from tracing ``call`` on zeros (``trace``).

``call`` gets only the arguments it declares, as in Keras: ``call(self, x)`` is called without
``training``; ``call(self, x, training=None)`` receives the mode of the model's step.
"""

import contextlib
import inspect
import threading

import numpy as np

from .. import graph, regularizers
from ..ops.core import (
    Tensor,
    convert_to_tensor,
    gradients,
    record,
    record_gradients,
    recording,
)
from ..tape import Node, backward_shared, join_losses, keep_caches

_MODE = threading.local()  # the training flag of the call being run, per thread


def training_mode():
    """The mode a layer call without ``training=`` inherits (False outside a model's step)."""
    return getattr(_MODE, "training", False)


@contextlib.contextmanager
def running(training):
    """Run calls in this block in ``training`` mode (and record ops when training)."""
    previous = training_mode()
    _MODE.training = training
    try:
        with record_gradients(training):
            yield
    finally:
        _MODE.training = previous


def accepts(fn, name):
    """Whether ``fn`` declares the parameter ``name`` (or takes ``**kwargs``)."""
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def invoke(layer, args, kwargs, training, mask=None):
    """``layer.call(*args, **kwargs)``, adding ``training`` and ``mask`` only if it takes them.
    The layer's added losses start afresh (``add_loss``)."""
    layer._losses = []
    kwargs = dict(kwargs)
    if accepts(layer.call, "training"):
        kwargs["training"] = training
    if mask is not None and accepts(layer.call, "mask"):
        kwargs["mask"] = mask
    out = layer.call(*args, **kwargs)
    for variable in getattr(layer, "_variables", {}).values():  # add_weight(regularizer=...)
        if variable.regularizer is not None and variable.trainable:
            layer._losses.append(weight_penalty(variable))
    return out


def weight_penalty(variable):
    """``regularizer(weight)`` as a loss of its layer, an op whose backward is the
    regularizer's gradient: fit adds it to the loss, backprop to the weight's gradient."""
    regularizer, w = variable.regularizer, variable.value

    def backward(dy):
        return (regularizers.gradient_of(regularizer, w, dy),)

    return record(np.asarray(regularizer(w), dtype=w.dtype), (variable,), backward)


def flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from flatten(item)
        else:
            yield item


def has_tensors(args):
    return any(isinstance(a, Tensor) for a in flatten(args))


# ----------------------------------------------------------------------------- arrays in


def autodiff_forward(layer, xs, kwargs, training):
    """Run ``call`` on ``xs`` (arrays), recording when training; returns the output array.

    Keeps ``(input tensors, output tensor)`` for ``autodiff_backward``. The input tensors
    wrap the caller's arrays without copying: ops never write into their inputs.
    """
    with running(training), one_step():
        inputs = [Tensor(x, requires_grad=training and x.dtype.kind == "f") for x in xs]
        out = convert_to_tensor(invoke(layer, inputs, kwargs, training))
    if training:
        layer._graph = (inputs, out)
    return out.value


def autodiff_backward(layer, dy, need_dx):
    """dL/d(inputs) from dL/d(output) by walking ``call``'s recorded ops back; each Variable's
    gradient lands in its layer's ``grads``. Returns one dx per input (or the one dx)."""
    if getattr(layer, "_graph", None) is None:
        raise RuntimeError(
            f"Layer '{layer.name}': backward() needs a training forward pass first "
            "(layer(x, training=True) inside a model's training step)."
        )
    inputs, out = layer._graph
    variables = [v for v in layer.trainable_weights if v.requires_grad]
    added = [loss for loss in layer.losses if getattr(loss, "requires_grad", False)]
    found = gradients([out, *added], [dy] + [1.0] * len(added), inputs + variables)
    store_gradients(variables, found[len(inputs) :])
    dxs = found[: len(inputs)] if need_dx else [None] * len(inputs)
    return dxs[0] if len(dxs) == 1 else dxs


def store_gradients(variables, grads):
    """Put each Variable's gradient in its layer's ``grads`` under its key.

    A Variable of a built-in layer is not an op's input (the layer computes with the array and
    sets its own ``grads`` in its backward), so it gets None here and is left alone; a weight
    of a layer written with ``call`` that its ``call`` did not use gets zeros, as Keras's None
    gradient changes nothing either.
    """
    for variable, grad in zip(variables, grads):
        owner = variable.owner
        if grad is not None:
            owner.grads[variable.key] = grad
        elif owner.writes_call():
            owner.grads[variable.key] = np.zeros_like(variable.value)


class OpsGraph:
    """A subclassed model's recorded forward pass: the ops and layer ops of its ``call``, as
    Tensors (``scratchnet.tape.Tape`` is the same thing for Sequential and Functional models,
    which record whole layer calls).

    Args:
        output: the Tensor ``call`` returned.
        model: the model, for its weights and its layers' added losses.
    """

    def __init__(self, output, model):
        self.output, self.model = output, model
        self.kept = None  # a dict only when a drawing asks for every gradient (as on a Tape)

    def output_layer(self, y):
        """The built-in layer whose call made the output (for a fused loss), or None."""
        return self.output.layer

    def backward(self, output, doutput, from_logits=False):
        """Backprop dL/d(output) (or, ``from_logits``, dL/d(the output layer's logits)) and the
        layers' added losses; each weight's gradient lands in its layer's ``grads``."""
        out = self.output
        if from_logits:
            out = Tensor(out.value, out.parents, out.backward_from_logits)
        _MODE.backward_pass = object()  # a shared layer's first call in it sets its gradients
        variables = [v for v in self.model.trainable_weights if v.requires_grad]
        added = [loss for loss in self.model.losses if getattr(loss, "requires_grad", False)]
        seeds = [doutput] + [1.0] * len(added)
        found = gradients([out, *added], seeds, variables, kept=self.kept)
        store_gradients(variables, found)


# ----------------------------------------------------------------------------- Tensors in


def layer_op(layer, x, training):
    """A built-in layer called on Tensors: one op whose backward rule is ``layer.backward``.

    The output tensor remembers its layer (``.layer``), so a loss can fuse with its softmax,
    and a second backward rule that starts from the logits (``backward_from_logits``).
    """
    multi = isinstance(x, (list, tuple))
    tensors = [convert_to_tensor(t) for t in (x if multi else [x])]
    values = [layer._cast(t.value) for t in tensors]
    shapes = [v.shape for v in values]
    for s in shapes:
        layer.check_input_shape(s)
    if not layer.built:
        layer._build_once(shapes if multi else shapes[0])
    records = recording() and training
    earlier = None
    if records:  # a layer called again in this step: keep its earlier call's caches (tape.py)
        session = _MODE.__dict__.setdefault("calls", {})  # layer -> (latest node, group)
        earlier, group = session.get(layer, (None, [None]))
        if earlier is not None:
            keep_caches(earlier)
    y = layer.forward(values if multi else values[0], training=training)
    if not records:
        outs = [Tensor(v) for v in (y if isinstance(y, list) else [y])]
        for out in outs:
            out.layer = layer
        return outs if isinstance(y, list) else outs[0]
    node = Node(layer, tensors, y)
    node.shared = earlier is not None
    if node.shared:
        join_losses(earlier, node)
    session[layer] = (node, group)  # group[0]: the backward pass that last reached the layer
    need_dx = any(t.requires_grad for t in tensors)

    def rule(step):
        def backward(dy):
            if node.shared:  # a shared layer: this call's caches, its gradients added up
                token = getattr(_MODE, "backward_pass", None)
                first, group[0] = token is None or group[0] is not token, token
                dxs = backward_shared(node, step, dy, need_dx, first)
            else:
                dxs = step(dy, need_dx=need_dx)
            return tuple(dxs) if multi else (dxs,)

        return backward

    if isinstance(y, list):
        return several_outputs(layer, y, tensors, rule(layer.backward))
    out = Tensor(y, tuple(tensors), rule(layer.backward), requires_grad=bool(layer.params))
    out.layer = layer
    if hasattr(layer, "backward_from_logits"):
        out.backward_from_logits = rule(layer.backward_from_logits)
    return out


def several_outputs(layer, ys, tensors, backward):
    """A layer call with several outputs (an LSTM's output and states) as ops on one tensor.

    Its backward needs all the outputs' gradients at once, ``layer.backward([dy_0, dy_1, ...])``,
    so the call is one op whose output packs them side by side, ``packed = [y_0 | y_1 | ...]``
    (N, total), and each y_i is a slice of it. The slices' gradients add up in packed's
    gradient (zeros where an output does not reach the loss), which is unpacked for backward.
    """
    N = ys[0].shape[0]
    sizes = [int(np.prod(y.shape[1:])) for y in ys]
    ends = np.cumsum(sizes)

    def unpack(dpacked):  # (N, total) -> [dy_0 like y_0, dy_1 like y_1, ...]
        parts = np.split(dpacked, ends[:-1], axis=1)
        return backward([part.reshape(y.shape) for part, y in zip(parts, ys)])

    packed = Tensor(
        np.concatenate([y.reshape(N, -1) for y in ys], axis=1),  # (N, total)
        tuple(tensors), unpack, requires_grad=bool(layer.params),
    )  # fmt: skip

    def output(i):
        start, stop = ends[i] - sizes[i], ends[i]

        def backward_slice(dy):  # y_i = packed[:, start:stop]: its gradient goes back there
            dpacked = np.zeros(packed.shape, dy.dtype)
            dpacked[:, start:stop] = dy.reshape(N, -1)
            return (dpacked,)

        out = Tensor(ys[i], (packed,), backward_slice)
        out.layer = layer
        return out

    return [output(i) for i in range(len(ys))]


@contextlib.contextmanager
def one_step():
    """A model's training step: the built-in layers called in it (a layer called twice is
    shared, see ``layer_op``) are counted afresh."""
    _MODE.calls = {}
    try:
        yield
    finally:
        _MODE.calls = {}


# ----------------------------------------------------------------------------- symbolic


def trace(layer, args, kwargs):
    """``layer(Input(...))`` for a layer without its own ``compute_output_shape``: build it, run
    it on zeros shaped like the inputs, in inference mode, and read the output's shape and dtype.
    A layer written with ``call`` runs ``call``; one with a hand-written ``forward``, that.

    An unknown size (``None``: the batch, or a sequence length) is tried as 1 and as 2; an
    output axis whose size follows it is unknown too.
    """
    symbolic = [a for a in flatten(args) if isinstance(a, graph.SymbolicTensor)]
    shapes = [a.shape for a in symbolic]
    if not layer.built:
        layer.build_from_shape(shapes if len(shapes) > 1 else shapes[0])
    saved = [(v, v.value.copy()) for v in layer.weights]  # a call may assign (a counter)
    unbuilt = [inner for inner in _sublayers(layer) if not inner.built]
    try:
        first = _run_on_zeros(layer, args, kwargs, unknown=1)
        if any(d is None for s in shapes for d in s):
            second = _run_on_zeros(layer, args, kwargs, unknown=2)
            out_shape = tuple(a if a == b else None for a, b in zip(first.shape, second.shape))
        else:
            out_shape = first.shape
    finally:
        for variable, value in saved:  # tracing leaves no trace in the weights, as in Keras
            variable.value[...] = value
    if any(s[0] is None for s in shapes):  # built on zeros of batch 1: as Keras, for batch None
        for inner in unbuilt:
            _unknown_batch(inner)
    out = graph.SymbolicTensor(out_shape, first.dtype, layer=layer, inputs=symbolic)
    return graph.remember_call(layer, symbolic[0] if len(symbolic) == 1 else symbolic, out)


def _sublayers(layer):
    """The layers inside ``layer`` (a model's, a layer's sublayers), all the way down."""
    found = []
    for inner in list(getattr(layer, "layers", ())) + list(layer.__dict__.get("_layers", ())):
        if inner not in found:
            found += [inner] + [t for t in _sublayers(inner) if t not in found]
    return found


def _unknown_batch(layer):
    """The shape a layer built in a trace remembers, with the batch axis unknown (None)."""

    def batchless(shape):
        if shape and isinstance(shape[0], (list, tuple)):
            return type(shape)(batchless(s) for s in shape)
        return (None, *shape[1:]) if shape else shape

    if layer.built and "_build_shape" in layer.__dict__:
        layer.__dict__["_build_shape"] = batchless(layer.__dict__["_build_shape"])
    if layer.built and layer.__dict__.get("input_shape") is not None:
        layer.__dict__["input_shape"] = batchless(layer.__dict__["input_shape"])


def _run_on_zeros(layer, args, kwargs, unknown):
    """The layer's output (a Tensor) for zeros in place of its symbolic inputs, each unknown
    size set to ``unknown``."""

    def zeros(a):
        if isinstance(a, (list, tuple)):
            return type(a)(zeros(t) for t in a)
        if not isinstance(a, graph.SymbolicTensor):
            return a
        return np.zeros(tuple(unknown if d is None else d for d in a.shape), dtype=a.dtype)

    with running(False):
        if layer.writes_call():
            out = invoke(layer, [Tensor(z) for z in zeros(list(args))], kwargs, False)
            layer._losses = []  # losses of a trace on zeros are not the model's
        else:
            (x,) = args
            out = layer.forward([layer._cast(z) for z in zeros(x)] if isinstance(x, list)
                                else layer._cast(zeros(x)), training=False)  # fmt: skip
    return convert_to_tensor(out)
