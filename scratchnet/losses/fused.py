"""A softmax (or sigmoid) output layer and its cross-entropy, run as one step (``Model.fit``)."""

import contextlib


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

    * ``find(loss, layer)`` says whether a loss and the layer that made the model's output make
      such a pair (``Model`` asks it at each training and test step);
    * that layer kept its logits z in ``layer.logits`` during the forward pass
      (``keeps_logits``); the model's inner layers do not keep theirs (``inner_layers``);
    * ``value_and_gradient(y_true)`` is L and dL/dz from those logits;
    * backprop starts at the layer's ``backward_from_logits(dz)``
      (``Tape.backward(..., from_logits=True)``), skipping the activation's own backward.

    Args:
        layer: the output layer (its activation is softmax or sigmoid, its ``logits`` are set).
        loss: a loss whose ``fused_activation`` is that activation's name.
    """

    ACTIVATIONS = ("softmax", "sigmoid")  # the activations a cross-entropy fuses with

    def __init__(self, layer, loss):
        self.layer, self.loss = layer, loss

    @classmethod
    def find(cls, loss, layer):
        """The pair made of ``loss`` and the output ``layer``, or None if they do not fuse."""
        activation = getattr(layer, "activation", None)
        if (
            loss.from_logits  # the output already is the logits: nothing to fuse
            or loss.fused_activation is None
            or activation is None
            or activation.name != loss.fused_activation
            or getattr(layer, "logits", None) is None
        ):
            return None
        return cls(layer, loss)

    def value(self, y_true):
        """The batch loss from the layer's logits (test steps need no gradient)."""
        return self.loss.value_and_grad_from_logits(y_true, self.layer.logits)[0]

    def value_and_gradient(self, y_true):
        """``(L, dL/dz)`` from the layer's logits z: dL/dz = (p - y) / N."""
        return self.loss.value_and_grad_from_logits(y_true, self.layer.logits)

    @classmethod
    def keeps_logits(cls, layer):
        """Whether ``layer`` keeps its logits z in this forward pass, for a fused loss to read:
        a softmax or sigmoid layer does unless its model switched that off (``inner_layers``)."""
        return layer.keep_logits and layer.activation.name in cls.ACTIVATIONS

    @staticmethod
    @contextlib.contextmanager
    def inner_layers(layers):
        """While a model runs, its inner ``layers`` keep no logits: only the output layer's can
        meet a fused loss, and an inner softmax or sigmoid layer that kept them would hold a
        second copy of its output (5.5 MB a step for hanoi's first convolution). Restored
        afterwards, so a layer called on its own, or later used as another model's output layer,
        keeps its logits as before."""
        for layer in layers:
            layer.keep_logits = False
        try:
            yield
        finally:
            for layer in layers:
                layer.keep_logits = True
