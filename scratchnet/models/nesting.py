"""A model is a layer: it can be called on a symbolic tensor, listed in a Sequential, nested in
a Functional model, and trained through, as in Keras (where ``Model`` subclasses ``Layer``).

What a model needs to be used as a layer, kept apart from the training engine (``model.py``):

* ``model(Input(...))`` (``call_symbolic``): one node in the outer graph, whose output shape is
  the model's own output's (a Sequential or Functional model), or traced on zeros (a
  subclassed one), as for any layer;
* ``model(x)`` inside another model's forward pass (``call_nested``): a Sequential or
  Functional model runs its layers, which record on the outer model's tape as if they were the
  outer model's own, so backprop goes through them with nothing more (their gradients land in
  their own ``grads``); inside a subclassed model's ``call`` (on Tensors) its layers become ops
  of that graph in the same way. A subclassed model inside a Sequential or Functional one is
  one node of the outer tape, as a layer written with ``call``;
* freezing: ``model.trainable = False`` freezes every layer in it, as Keras does.

Example:
    >>> from scratchnet import Input, layers, models
    >>> encoder = models.Sequential([Input((4,)), layers.Dense(2, name="code")], name="encoder")
    >>> x = Input((4,))
    >>> outer = models.Model(x, layers.Dense(1)(encoder(x)))
    >>> outer.layers[1].name, len(outer.weights)
    ('encoder', 4)
"""

import numpy as np

from .. import config, graph
from ..layers import calling
from ..layers.base import Layer, _PerThread
from ..ops.core import structure_changed
from ..tape import Tape


class ModelAsLayer(Layer):
    """The layer side of ``Model`` (see the module docstring). ``Model.__init__`` calls
    ``_init_layer_state`` instead of ``Layer.__init__``."""

    def _init_layer_state(self, trainable, dtype):
        """The attributes every ``Layer`` has (``Layer.__init__`` without its name counter)."""
        self.__dict__.update(
            input_shape_arg=None, dtype=np.dtype(dtype or config.floatx()), params={},
            grads={}, _variables={}, _layers=[], _this_thread=_PerThread(),
            activity_regularizer=None, logits=None, trainable=bool(trainable),
        )  # fmt: skip

    def _set_trainable(self, value):
        """``model.trainable = value`` sets it on every layer inside, as Keras does."""
        self.__dict__["trainable"] = bool(value)
        for layer in self.__dict__.get("_tracked_layers", ()):
            layer.trainable = value
        structure_changed()

    @property
    def built(self):
        """Whether every layer of the model is built."""
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @built.setter
    def built(self, value):  # (a build() of yours marks it, as for any layer: ignored here)
        pass

    @property
    def input_shape(self):
        """The shape of the model's input, batch axis included (None before it is known)."""
        try:
            return tuple(self.inputs[0].shape)
        except (AttributeError, IndexError):
            return self.__dict__.get("_layer_input_shape")

    @input_shape.setter
    def input_shape(self, shape):  # (Layer.build sets it, for a subclassed model)
        self.__dict__["_layer_input_shape"] = shape

    def check_input_shape(self, shape):
        """A nested model's own layers check what they are given (naming themselves)."""

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``: a Sequential or Functional model's output (a
        subclassed model's, once traced on an Input), with the batch axis of ``input_shape``."""
        try:
            out = self.outputs[0].shape
        except (AttributeError, IndexError):
            traced = self.__dict__.get("_last_symbolic_output")  # a subclassed model, traced
            if traced is not None and not isinstance(traced, list):
                return (tuple(input_shape)[0], *traced.shape[1:])
            raise NotImplementedError(
                f"Model '{self.name}' ({type(self).__name__}) knows its output shape only "
                "once called on data or on an Input."
            ) from None
        return (tuple(input_shape)[0], *out[1:])

    def call_symbolic(self, x):
        """``model(Input(...))``: the model as one call in a graph (see the module docstring)."""
        if self.RECORDS_LAYER_CALLS:
            if hasattr(self, "_build_on_symbolic"):  # a Sequential without an Input yet
                self._build_on_symbolic(x)
            inputs = x if isinstance(x, (list, tuple)) else [x]
            if len(inputs) != len(self.inputs) or any(
                len(t.shape) != len(s.shape)
                or any(a is not None and b is not None and a != b
                       for a, b in zip(t.shape[1:], s.shape[1:]))
                for t, s in zip(inputs, self.inputs)
            ):  # fmt: skip
                raise ValueError(
                    f"Model '{self.name}' expects input(s) of shape "
                    f"{[tuple(s.shape) for s in self.inputs]}, but was called on "
                    f"{[tuple(t.shape) for t in inputs]}."
                )
            return graph.call_symbolic(self, x)
        return calling.trace(self, [x], {})

    def call_nested(self, x, training):
        """``model(x)`` inside another model's forward pass (``x`` an array under the outer
        tape, or a Tensor in a subclassed model's ``call``), or None if this is not one."""
        tensors = calling.has_tensors([x])
        if not tensors and Tape.active() is None:
            return None  # a call of its own: Model.__call__ goes on
        if training is None:
            tape = Tape.active()
            training = (
                tape.training if tape is not None and not tensors else calling.training_mode()
            )
        if self.RECORDS_LAYER_CALLS:  # its layers record on the outer tape (or as ops)
            return self.call(x, training=training)
        if tensors:  # a subclassed model in a subclassed model: its ops join the graph
            return calling.invoke(self, [x], {}, training)
        # A subclassed model in a Sequential or Functional one: one node of the outer tape, as
        # a layer written with call (its backward walks call's recorded ops back).
        return Layer._call_on_arrays(self, x, training, True, {})

    def writes_call(self):
        """A subclassed model is written with ``call`` (traced on zeros when called on an
        Input); a Sequential or Functional model runs its layers."""
        return not self.RECORDS_LAYER_CALLS
