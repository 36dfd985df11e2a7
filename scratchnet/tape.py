"""The tape: how a forward pass of layer calls becomes a graph that backprop walks in reverse.

Every model in scratchnet (Sequential, Functional, subclassed) runs its forward pass as a series
of layer calls. While a model trains, a ``Tape`` is open and each ``layer(x)`` call appends a
``Node(layer, inputs, output)`` to it (``Layer.__call__`` does that). Backprop then walks the
tape in reverse:

    for node in reversed(tape.nodes):
        dx = node.layer.backward(dL/d(node.output))
        add dx into dL/d(input) for each input    # a tensor used twice sums its gradients

That is the whole engine. Sequential is the simplest case: a chain of nodes.

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

    __slots__ = ("layer", "inputs", "output")

    def __init__(self, layer, inputs, output):
        self.layer = layer
        self.inputs = inputs  # list of arrays the layer read
        self.output = output  # the array it returned (a list: a layer with several outputs)


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
            if logit_ids and id(node.output) in logit_ids:
                dxs = node.layer.backward_from_logits(dy, need_dx=need_dx)  # dy is dL/dz
            else:
                dxs = node.layer.backward(dy, need_dx=need_dx)
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
