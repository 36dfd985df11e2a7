"""The tape: how a forward pass of layer calls becomes a graph that backprop walks in reverse.

Every model in scratchnet (Sequential, Functional, subclassed) runs its forward pass as a series
of layer calls. While a model trains, a ``Tape`` is open and each ``layer(x)`` call appends a
``Node(layer, inputs, output)`` to it (``Layer.__call__`` does that). Backprop then walks the
tape in reverse:

    for node in reversed(tape.nodes):
        dx = node.layer.backward(dL/d(node.output))
        add dx into dL/d(input) for each input    # a tensor used twice sums its gradients

That is the whole engine. Sequential is the simplest case: a chain of nodes.

A layer called twice (a shared layer: one ``Dense`` applied to two tensors) is the same lesson
on the weights' side: its kernel is read twice, so dL/d(kernel) is the sum of what each call
sends back. Each call is its own node. A layer keeps what its backward needs on itself
(``self._x = x``), so before the layer runs again, the tape moves the earlier call's caches
onto that call's node (``keep_caches``, from ``Tape.before_call``); backward puts them back for
that node's backward alone and adds the gradients of every call (``backward_shared``). The
losses the layer adds (an activity penalty) add up over its calls too (``join_losses``). A
layer called once never takes that path: its node has ``shared`` False and runs as before.

One more entry: a loss fused with the output layer's softmax or sigmoid
(``scratchnet.losses.ActivationWithLoss``) already knows dL/dz, the gradient of that layer's
logits, so backprop starts one step into the output layer: ``backward(output, dz,
from_logits=True)`` calls that layer's ``backward_from_logits`` instead of its ``backward``.

A tape belongs to the thread that opened it (``Tape.active()``): a server's threads each run
their own forward pass, and a layer call records on its own thread's tape only.
"""

import threading

_THIS_THREAD = threading.local()  # .tape: the tape this thread is recording on, if any


class Node:
    """One recorded layer call: ``output = layer(*inputs)``."""

    __slots__ = ("layer", "inputs", "output", "shared", "caches", "losses", "own_losses")

    def __init__(self, layer, inputs, output):
        self.layer = layer
        self.inputs = inputs  # list of arrays the layer read
        self.output = output  # the array it returned (a list: a layer with several outputs)
        self.shared = False  # the layer is called more than once in this forward pass
        self.caches = None  # then, for every call but its latest: the layer's caches after it
        self.losses = None  # and the losses it had added up to this call
        self.own_losses = None  # the losses this call added (its weights' penalties last)


def keep_caches(node):
    """Before ``node.layer`` runs again: keep what its call at ``node`` left on it (a shallow
    copy of its attributes: forward assigns new arrays, ``self._x = x``, so later calls leave
    these alone)."""
    node.shared = True
    node.caches = dict(node.layer.__dict__)
    node.losses = node.layer._losses
    if node.own_losses is None:
        node.own_losses = node.layer._losses


def _weight_penalties(layer):
    """How many of the losses a call adds are its weights' penalties (they come last)."""
    if not layer.trainable:
        return 0
    return sum(
        1 for v in layer.variables_by_key.values() if v.regularizer is not None and v.trainable
    )


def join_losses(earlier, node):
    """After a shared layer's call (``node``): the losses its calls added (``add_loss``, an
    activity penalty), the earlier calls' (kept on their latest node, ``earlier``) then this
    one's, as Keras adds them at each call; its weights' penalties, which each call's list ends
    with, once. (A layer whose call set no new list keeps its list as it is.)"""
    layer = node.layer
    node.own_losses = layer._losses
    if not earlier.losses or layer._losses is earlier.losses:
        return
    before = earlier.losses[: len(earlier.losses) - _weight_penalties(layer)]
    layer._losses = before + layer._losses


def backward_shared(node, step, dy, need_dx, first):
    """``step(dy, need_dx=...)`` (the layer's backward) for one call of a shared layer.

    With the caches of this call put back on the layer for the time of its backward (the other
    attributes as they are now), and, unless this is the first call to get its gradients in
    this backward pass (``first``), each weight's gradient added to what the later calls gave:
    dL/dW = sum over the calls of dL/dW at that call.
    """
    layer = node.layer
    slots = [(v.owner, v.key) for v in layer.weights]
    earlier = [owner.grads.get(key) for owner, key in slots]
    now = layer.__dict__
    swapped = None
    if node.caches is not None:
        swapped = {k: now[k] for k in node.caches if k in now}
        now.update(node.caches)
    # This call's own losses only; its weights' penalties (and their gradients) at one call.
    losses, own = layer._losses, node.own_losses if node.own_losses is not None else []
    penalized = [v for v in layer.variables_by_key.values() if v.regularizer is not None]
    layer._losses = own if first else own[: len(own) - _weight_penalties(layer)]
    regularizers = [v.regularizer for v in penalized]
    if not first:
        for v in penalized:
            v.regularizer = None
    try:
        dxs = step(dy, need_dx=need_dx)
    finally:
        if swapped is not None:
            now.update(swapped)
        layer._losses = losses
        for v, regularizer in zip(penalized, regularizers):
            v.regularizer = regularizer
    if not first:
        for (owner, key), before in zip(slots, earlier):
            after = owner.grads.get(key)
            if before is not None and after is not None and after is not before:
                owner.grads[key] = before + after
    return dxs


class Tape:
    """Records the layer calls of one forward pass (see the module docstring).

    Tensors are identified by ``id()``; the tape keeps a reference to each one so an id cannot be
    reused while the tape lives.
    """

    def __init__(self, training=False):
        self.training = training  # the mode a layer call without training= inherits, as in Keras
        self.nodes = []
        self.sources = set()  # ids of the model inputs: their gradient is not needed
        self.known = {}  # id -> array for every tensor the tape has seen
        self.kept = None  # a dict only when a drawing asks for every gradient (scratchnet.drawing)
        self.latest = {}  # id(layer) -> the node of its latest training call (shared layers)

    def watch(self, x):
        """Mark ``x`` as a model input."""
        self.sources.add(id(x))
        self.known[id(x)] = x

    def before_call(self, layer):
        """Before a training call of ``layer``: if it ran already on this tape, keep that call's
        caches on its node (``keep_caches``), so this call may overwrite them on the layer."""
        node = self.latest.get(id(layer))
        if node is not None:
            keep_caches(node)

    def record(self, layer, inputs, output, training=False):
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
        node = Node(layer, list(inputs), output)
        self.nodes.append(node)
        if training:
            earlier = self.latest.get(id(layer))
            if earlier is not None:
                node.shared = True
                join_losses(earlier, node)
            self.latest[id(layer)] = node
        for y in output if isinstance(output, list) else [output]:  # a list: several outputs
            self.known[id(y)] = y

    def describe(self):
        """The recorded calls as text, one line each in the order they ran: what really ran.

        A fused step shows as one line (``conv2d+max_pooling2d (ConvPool)``); see
        ``scratchnet.utils.trace``.
        """
        lines = []
        for i, node in enumerate(self.nodes, 1):
            shapes = ", ".join(str(tuple(x.shape)) for x in node.inputs)
            outputs = node.output if isinstance(node.output, list) else [node.output]
            lines.append(
                f"{i}. {node.layer.name} ({type(node.layer).__name__}): {shapes} -> "
                + ", ".join(str(tuple(y.shape)) for y in outputs)
            )
        return "\n".join(lines)

    @staticmethod
    def active():
        """The tape this thread is recording on, or None."""
        return getattr(_THIS_THREAD, "tape", None)

    def __enter__(self):
        if Tape.active() is not None:
            raise RuntimeError("A scratchnet Tape is already recording; tapes do not nest.")
        _THIS_THREAD.tape = self
        return self

    def __exit__(self, *exc):
        _THIS_THREAD.tape = None
        return False

    def output_layer(self, output):
        """The layer whose call produced ``output`` (for a fused loss), or None."""
        for node in reversed(self.nodes):
            if node.output is output:
                return node.layer
        return None

    def backward(self, output, doutput, from_logits=False):
        """Backprop ``doutput = dL/d(output)`` through every recorded node, last call first.

        With ``from_logits``, ``doutput`` is dL/dz for the logits z of the layer that made
        ``output`` (a fused softmax or sigmoid loss): that layer starts at its
        ``backward_from_logits``. Returns nothing: each layer stores its parameter gradients in
        ``layer.grads``.

        With ``kept`` a dict (``scratchnet.drawing`` sets it; otherwise None, and this costs
        nothing), backward also computes the model inputs' gradients and keeps every gradient:
        ``kept[id(tensor)]`` is dL/d(tensor) summed over its readers, ``kept[(node_index,
        input_index)]`` what one reader sent back.
        """
        if isinstance(output, list):  # several model outputs: one seed each (a multi-output fit)
            return self._backward_many(output, doutput, from_logits)
        if id(output) not in self.known:
            raise ValueError(
                "The model's output was not produced by a scratchnet layer, so there is no "
                "recorded path to backprop through. If call() ends with raw NumPy arithmetic, "
                "move that step into a layer."
            )
        grads = {id(output): doutput}  # id(tensor) -> dL/d(tensor), summed over its consumers
        self._backprop(grads, {id(output)} if from_logits else ())

    def _backward_many(self, outputs, douts, from_logits):
        """``backward`` from several outputs: ``douts[k]`` is dL/d(outputs[k]) (None: that output
        has no loss), or dL/dz of its layer's logits where ``from_logits[k]``."""
        grads, logit_ids = {}, set()
        for output, dout, fused in zip(outputs, douts, from_logits):
            if dout is None:
                continue
            key = id(output)
            grads[key] = dout if key not in grads else grads[key] + dout
            if fused:
                logit_ids.add(key)
        self._backprop(grads, logit_ids)

    def _backprop(self, grads, logit_ids):
        """The reverse sweep: ``grads`` holds the seeds; a node whose output is in ``logit_ids``
        starts at its layer's ``backward_from_logits``."""
        kept = self.kept
        sources = self.sources if kept is None else ()
        done = set()  # ids of the shared layers that already got gradients in this pass
        for n in reversed(range(len(self.nodes))):
            node = self.nodes[n]
            if isinstance(node.output, list):  # a call with several outputs gets one dy each
                dy = [grads.pop(id(y), None) for y in node.output]  # None: it does not reach L
                if all(d is None for d in dy):
                    continue
            else:
                dy = grads.pop(id(node.output), None)
            if dy is None:  # this output does not reach the loss
                continue
            if kept is not None:  # (several outputs: one entry each)
                outs = node.output if isinstance(node.output, list) else [node.output]
                kept.update(zip(map(id, outs), dy if isinstance(dy, list) else [dy]))
            need_dx = any(id(x) not in sources for x in node.inputs)
            layer = node.layer
            if logit_ids and id(node.output) in logit_ids:
                step = layer.backward_from_logits  # dy is dL/dz
            else:
                step = layer.backward
            if node.shared:  # a layer called more than once: its gradients add up
                dxs = backward_shared(node, step, dy, need_dx, first=id(layer) not in done)
                done.add(id(layer))
            else:
                dxs = step(dy, need_dx=need_dx)
            if not need_dx:
                continue
            if len(node.inputs) == 1:
                dxs = [dxs]
            for i, (x, dx) in enumerate(zip(node.inputs, dxs)):
                if kept is not None:
                    kept[(n, i)] = dx
                if id(x) in sources:
                    continue
                # The lesson of backprop over a graph: a tensor read by two layers receives the
                # sum of both gradients (the multivariable chain rule).
                key = id(x)
                grads[key] = dx if key not in grads else grads[key] + dx
        if kept is not None:
            kept.update(grads)  # what is left: the model inputs' summed gradients
