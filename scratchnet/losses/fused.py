"""A softmax (or sigmoid) output layer and its cross-entropy, run as one step (``Model.fit``)."""

import contextlib
import threading

_THIS_THREAD = threading.local()  # the model step this thread runs: .inner, .logits (below)


class ActivationWithLoss:
    """A softmax (or sigmoid) output layer and a cross-entropy loss, run as one step.

    deep-learning-from-scratch's ``SoftmaxWithLoss``, the way Keras computes it. A model whose
    output layer ends in softmax and whose loss is a categorical cross-entropy (or sigmoid and
    binary cross-entropy) never differentiates the softmax on its own:

        forward:  z = the output layer's logits, p = softmax(z) (what the model returns)
                  L = mean_i [logsumexp(z_i) - z_i[y_i]]        from z, not from p
        backward: dL/dz = (p - y) / N                          straight into the layer's logits

    The Jacobian of the softmax and the derivative of the log cancel, so the product of the two
    backward passes is this one subtraction: cheaper, and exact even where p saturates at 0 or 1
    (the plain path clips p to [eps, 1 - eps] and its gradient vanishes there).

    How scratchnet runs it:

    * the output layer keeps its logits z during the forward pass (``keeps_logits``, ``keep``):
      in training in ``layer.logits``, with its other training caches; in a test step (evaluate)
      in that step's own dict (``collect``), so that threads evaluating one model at once each
      read their own; in plain inference (predict) nowhere. The model's inner layers keep none
      (``inner_layers``);
    * ``find(loss, layer, logits)`` says whether a loss and the layer that made the model's
      output make such a pair (``Model`` asks it at each training and test step);
    * ``value_and_gradient(y_true)`` is L and dL/dz from those logits;
    * backprop starts at the layer's ``backward_from_logits(dz)``
      (``Tape.backward(..., from_logits=True)``), skipping the activation's own backward.

    Args:
        layer: the output layer (its activation is softmax or sigmoid).
        loss: a loss whose ``fused_activation`` is that activation's name.
        logits: the logits z that layer kept.
    """

    ACTIVATIONS = ("softmax", "sigmoid")  # the activations a cross-entropy fuses with

    def __init__(self, layer, loss, logits):
        self.layer, self.loss, self.logits = layer, loss, logits

    @classmethod
    def find(cls, loss, layer, logits):
        """The pair made of ``loss`` and the output ``layer``, or None if they do not fuse."""
        activation = getattr(layer, "activation", None)
        if (
            loss.from_logits  # the output already is the logits: nothing to fuse
            or loss.fused_activation is None
            or activation is None
            or activation.name != loss.fused_activation
            or logits is None
        ):
            return None
        return cls(layer, loss, logits)

    def value(self, y_true):
        """The batch loss from the layer's logits (test steps need no gradient)."""
        return self.loss.value_and_grad_from_logits(y_true, self.logits)[0]

    def value_and_gradient(self, y_true):
        """``(L, dL/dz)`` from the layer's logits z: dL/dz = (p - y) / N."""
        return self.loss.value_and_grad_from_logits(y_true, self.logits)

    @classmethod
    def keeps_logits(cls, layer, training):
        """Whether ``layer`` keeps its logits z in this forward pass, for a fused loss to read:
        a softmax or sigmoid layer does in training and in a test step (``collect``), unless it
        is an inner layer of the model that runs it (``inner_layers``)."""
        if layer.activation.name not in cls.ACTIVATIONS:
            return False
        if layer in getattr(_THIS_THREAD, "inner", ()):
            return False
        return training or getattr(_THIS_THREAD, "logits", None) is not None

    @staticmethod
    def keep(layer, y, z, training):
        """Keep ``z``, the logits of the output ``y`` (None: keep none; see ``keeps_logits``).
        Training: in ``layer.logits``. A test step: in its ``collect`` dict. Else: nowhere."""
        if training:
            layer.logits = z
        elif z is not None:
            _THIS_THREAD.logits[id(y)] = z

    @staticmethod
    @contextlib.contextmanager
    def collect():
        """A test step: yields ``{id(output): logits}``, filled by this thread's layers."""
        previous = getattr(_THIS_THREAD, "logits", None)
        _THIS_THREAD.logits = logits = {}
        try:
            yield logits
        finally:
            _THIS_THREAD.logits = previous

    @staticmethod
    @contextlib.contextmanager
    def inner_layers(layers):
        """While a model runs, its inner ``layers`` keep no logits: only the output layer's can
        meet a fused loss, and an inner softmax or sigmoid layer that kept them would hold a
        second copy of its output (5.5 MB a step for hanoi's first convolution). Said for this
        thread only, so a layer called on its own, in another model or another thread, keeps its
        logits as before."""
        previous = getattr(_THIS_THREAD, "inner", ())
        _THIS_THREAD.inner = layers
        try:
            yield
        finally:
            _THIS_THREAD.inner = previous
