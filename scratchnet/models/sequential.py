"""Sequential: a plain stack of layers, each feeding the next."""

from .. import config, graph, saving
from ..layers import fused
from ..layers.base import Layer
from ..layers.input_layer import Input
from ..losses import ActivationWithLoss
from ..naming import shape_str, unique_name
from ..saving import registry
from .model import Model


@registry.register("Sequential")
class Sequential(Model):
    """A plain stack of layers, each feeding the next: the simplest graph of layer calls.

    Args:
        layers: optional list of layers; may start with ``scratchnet.Input(shape)``.
        name: the model name (default ``sequential``, ``sequential_1``, ...).

    Example:
        >>> from scratchnet import Input, layers
        >>> model = Sequential([Input((28, 28, 1)), layers.Flatten(), layers.Dense(10)])
        >>> model.layers[-1].name.startswith("dense")
        True
    """

    RECORDS_LAYER_CALLS = True

    def __init__(self, layers=None, name=None):
        super().__init__(name=name)
        self.input_spec = None  # the symbolic input, once the input shape is known
        self._output_spec = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._rebuilt()

    def _rebuilt(self):
        """Keras rebuilds a Sequential model as a Functional one each time its layers change
        (once for a list given at construction), which takes a name from the "functional"
        counter; taking one here keeps the next ``Model(...)``'s default name equal to
        Keras's (measured on Keras 3.15)."""
        if self.input_spec is not None and self.layers:
            unique_name("functional")

    def add(self, layer, rebuild=True):
        """Append a layer (or set the input with ``scratchnet.Input``)."""
        if isinstance(layer, graph.SymbolicTensor):
            if self.layers or self.input_spec is not None:
                raise ValueError(
                    f"Sequential '{self.name}': an Input can only come first, before any layer."
                )
            self.input_spec = self._output_spec = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential '{self.name}'.add expects a scratchnet layer or scratchnet.Input, got "
                f"{type(layer).__name__}. (Keras layers cannot be mixed into a scratchnet model.)"
            )
        if layer in self.layers:
            raise ValueError(f"Sequential '{self.name}': layer '{layer.name}' was already added.")
        if not self.layers and self.input_spec is None and layer.input_shape_arg is not None:
            self.input_spec = self._output_spec = Input(layer.input_shape_arg)
        self._tracked_layers.append(layer)
        if self._output_spec is not None:
            # Build as we go, so summary() and count_params() work before any data is seen.
            self._output_spec = self._follow(layer, self._output_spec)
        if rebuild:
            self._rebuilt()

    def _follow(self, layer, spec):
        """``layer(spec)`` for the symbolic tensor ``spec``, which must stay one tensor."""
        out = layer(spec)
        if isinstance(out, list):
            raise self._several_outputs(layer, len(out))
        return out

    def _several_outputs(self, layer, count):
        return ValueError(
            f"Sequential '{self.name}': layer '{layer.name}' ({type(layer).__name__}) returns "
            f"{count} tensors (return_state=True), and a Sequential model passes one tensor "
            "from layer to layer. Use the Functional API instead: `output, *states = layer(x)`, "
            "then `Model(inputs, outputs)`."
        )

    def _build_on_symbolic(self, x):
        """Called on a symbolic tensor before its input is known (a Sequential without an
        Input, nested in a Functional model): that tensor's shape becomes its input, as Keras
        builds it then."""
        if self.input_spec is not None or isinstance(x, (list, tuple)):
            return
        self.input_spec = self._output_spec = Input(batch_shape=x.shape, dtype=x.dtype)
        for layer in self.layers:
            self._output_spec = self._follow(layer, self._output_spec)
        self._rebuilt()

    def pop(self):
        layer = self._tracked_layers.pop()
        self._output_spec = self.input_spec
        for remaining in self.layers:
            self._output_spec = self._follow(remaining, self._output_spec)
        self._rebuilt()
        return layer

    def call(self, x, training=False):
        if self.input_spec is None and self.layers and not self.layers[0].built:
            self.input_spec = Input(x.shape[1:])
            self._rebuilt()
        steps = self._steps()
        with ActivationWithLoss.inner_layers(steps[:-1]):
            for step in steps:
                x = step(x, training=training)
                if type(x) is list:  # only when built from data: add() checks the shapes
                    raise self._several_outputs(step, len(x))
        return x

    def _steps(self):
        """The layers in order, with each Conv2D + MaxPooling2D pair run as one fused step.

        Same numbers, less memory traffic: see ``scratchnet.layers.fused``. Made again only when
        the layers, the kernel family or the fusion switch change.
        """
        key = (tuple(map(id, self.layers)), config.kernels(), config.fusion())
        if self.__dict__.get("_steps_key") != key:  # not setattr: steps are not tracked layers
            self.__dict__["_steps_list"] = fused.fuse(self.layers)
            self.__dict__["_steps_key"] = key
        return self.__dict__["_steps_list"]

    @property
    def inputs(self):
        """``[Input]``: the symbolic input, once the input shape is known (as in Keras)."""
        if self.input_spec is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined inputs yet.")
        return [self.input_spec]

    @property
    def outputs(self):
        if self._output_spec is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined outputs yet.")
        return [self._output_spec]

    def get_config(self):
        """The architecture, as Keras's ``get_config``: ``config.json``'s "config" entry."""
        return saving.serialize_model(self)["config"]

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new Sequential (new weights) from ``get_config()``'s dict, as Keras's."""
        entry = {"module": "keras", "class_name": "Sequential", "config": config}
        return saving.deserialize_model(entry, custom_objects, source="from_config")

    @property
    def output_shape(self):
        return None if self._output_spec is None else self._output_spec.shape

    @property
    def input_shape(self):
        return None if self.input_spec is None else self.input_spec.shape

    def _summary_rows(self):
        """(name (type), output shape, layer, connections) per row of ``summary()``."""
        shapes = []
        spec = self.input_spec
        for layer in self.layers:
            if spec is None:
                shapes.append("?")
                continue
            spec = graph.SymbolicTensor(layer.compute_output_shape(spec.shape))
            shapes.append(shape_str(spec.shape))
        return [
            (f"{layer.name} ({type(layer).__name__})", s, layer, None)
            for layer, s in zip(self.layers, shapes)
        ]
