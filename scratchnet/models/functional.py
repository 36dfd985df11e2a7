"""Functional: a model made by calling layers on ``Input`` tensors, ``Model(inputs, outputs)``."""

from .. import config, graph, saving
from ..layers import fused
from ..layers.merging import Merge
from ..losses import ActivationWithLoss
from ..naming import shape_str
from ..saving import registry
from .model import Model


@registry.register("Functional")
class Functional(Model):
    """A model defined by calling layers on ``Input`` tensors: ``Model(inputs, outputs)``.

    ``call`` replays the recorded layer calls in topological order (every input of a call is
    computed before the call). Backprop needs nothing more: the tape sees the same layer calls,
    and a tensor used by two layers sums both gradients.
    """

    RECORDS_LAYER_CALLS = True

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name)
        self.inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self._multi_input = len(self.inputs) > 1  # model(x) takes a list or dict of arrays
        for t in self.inputs + self.outputs:
            if not isinstance(t, graph.SymbolicTensor):
                raise TypeError(
                    f"Model(inputs, outputs): expected tensors from scratchnet.Input and layer "
                    f"calls, got {type(t).__name__}."
                )
        self._order = self._topological_order()
        self._calls = {}  # id(layer) -> its calls in this model (their first outputs), in order
        for t in self._order:  # Keras's model.layers: InputLayers too, every layer once
            layer = t.layer if t.layer is not None else t.input_layer
            if layer is not None and layer not in self._tracked_layers:
                self._tracked_layers.append(layer)
            if t.layer is not None:
                self._calls.setdefault(id(t.layer), []).append(t)
        for calls in self._calls.values():
            calls.sort(key=lambda t: t.node_index)

    def _call_index(self, t):
        """Which of its layer's calls in this model made ``t`` (0, 1, ... for a shared layer):
        Keras's node index as it saves it, counting only this model's calls of the layer."""
        if t.layer is None:
            return 0
        return next(i for i, c in enumerate(self._calls[id(t.layer)]) if c is t.first)

    def _is_shared(self, layer):
        """Whether this model calls ``layer`` more than once."""
        return len(self._calls.get(id(layer), ())) > 1

    def _default_name(self):
        return "functional"

    def _topological_order(self):
        """Every tensor the outputs depend on, inputs included, in Keras's layer order.

        Keras sorts by depth, the longest path from a tensor to the output (deepest first, so the
        inputs come first and every tensor comes after the tensors it reads), and breaks ties by
        the order a depth-first walk from the output first meets them. Using the same order keeps
        ``layers``, ``get_weights()`` and saved files in Keras's order.
        """
        first_seen, post_order = {}, []  # id -> visit index; tensors, each after its inputs

        def visit(t):
            t = t.first  # a call with several outputs appears once, as its first output
            if id(t) in first_seen:
                return
            if t.layer is None and not any(t is i for i in self.inputs):
                raise ValueError(
                    f"Model: the outputs depend on {t.name or 'an Input'} that is not listed in "
                    "inputs=."
                )
            first_seen[id(t)] = len(first_seen)
            for parent in t.inputs:
                visit(parent)
            post_order.append(t)

        for out in self.outputs:
            visit(out)
        depth = {id(t.first): 0 for t in self.outputs}
        for t in reversed(post_order):  # every consumer before the tensors it reads
            for parent in t.inputs:
                key = id(parent.first)
                depth[key] = max(depth.get(key, 0), depth[id(t)] + 1)
        self._depth = depth
        return sorted(post_order, key=lambda t: (-depth[id(t)], first_seen[id(t)]))

    def call(self, x, training=False):
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(self.inputs):
            raise ValueError(
                f"Model '{self.name}' expects {len(self.inputs)} input(s), got {len(xs)}."
            )
        values = {id(t): v for t, v in zip(self.inputs, xs)}
        outputs = {id(t) for t in self.outputs}
        steps = self._steps()
        inner = [step for step, _, t in steps if id(t) not in outputs]
        with ActivationWithLoss.inner_layers(inner):
            for step, parents, t in steps:
                args = [values[id(p)] for p in parents]
                y = step(
                    args if len(args) > 1 or isinstance(step, _MULTI_INPUT) else args[0],
                    training=training,
                )
                if len(t.outputs) == 1:
                    values[id(t)] = y
                else:  # one call, several tensors (an LSTM's output and states)
                    values.update((id(o), v) for o, v in zip(t.outputs, y))
        if len(self.outputs) == 1:
            return values[id(self.outputs[0])]
        return [values[id(t)] for t in self.outputs]  # several outputs: a list, as Keras

    def _steps(self):
        """``(layer or fused step, input tensors, output tensor)`` in the order they run.

        A Conv2D whose output goes only into a MaxPooling2D (and is not a model output) runs
        with it as one fused step, as in Sequential (``scratchnet.layers.fused``): the pooling's
        output is made from the convolution's input. The same for a BatchNormalization and
        the ReLU after it. Made again only when the kernel family or
        the fusion switch change.
        """
        key = (config.kernels(), config.fusion())
        if self.__dict__.get("_steps_key") == key:
            return self.__dict__["_steps_list"]
        readers = {}  # id(tensor) -> the tensors computed from it
        for t in self._order:
            for p in t.inputs:
                readers.setdefault(id(p), []).append(t)
        outputs = {id(t) for t in self.outputs}
        fused_into = {}  # id(first layer's output) -> (the tensor that takes it in, the step)
        seconds = set()  # id(the output of a step's second layer): not the first of another
        for t in self._order:
            parent = t.inputs[0] if len(t.inputs) == 1 else None
            if (
                parent is not None
                and parent.layer is not None
                and not self._is_shared(parent.layer)  # a shared layer runs as itself
                and not self._is_shared(t.layer)
                and id(parent) not in seconds
                and len(readers[id(parent)]) == 1
                and id(parent) not in outputs
            ):
                step = fused.fused_step(parent.layer, t.layer)
                if step is not None:
                    fused_into[id(parent)] = (t, step)
                    seconds.add(id(t))
        steps = []
        for t in self._order:
            if t.layer is None or id(t) in fused_into:
                continue  # an input, or a layer that runs inside the next step
            parent = t.inputs[0] if t.inputs else None
            if parent is not None and fused_into.get(id(parent), (None,))[0] is t:
                steps.append((fused_into[id(parent)][1], parent.inputs, t))
            else:
                steps.append((t.layer, t.inputs, t))
        self.__dict__["_steps_list"], self.__dict__["_steps_key"] = steps, key
        return steps

    def get_config(self):
        """The architecture, as Keras's ``get_config``: ``config.json``'s "config" entry."""
        return saving.serialize_model(self)["config"]

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new Functional (new weights) from ``get_config()``'s dict, as Keras's."""
        entry = {"module": "keras", "class_name": "Functional", "config": config}
        return saving.deserialize_model(entry, custom_objects, source="from_config")

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_names(self):
        """The inputs' names (the keys of a dict of input arrays), in ``inputs`` order."""
        return [t.name for t in self.inputs]

    @property
    def output_names(self):
        """The outputs' names, as Keras's: the name of the layer that made each output."""
        return [t.layer.name for t in self.outputs]

    def _summary_rows(self):
        """(name (type), output shape, layer or None for an input, connections) per row.

        One row per layer, in ``layers`` order, as Keras prints it: a shared layer once, with
        the shape of its latest call and every call's inputs (``shared[0][0], shared[1][0]``)."""
        rows = []
        for layer in self.layers:
            calls = self._calls.get(id(layer))
            if calls is None:  # an InputLayer
                t = layer.output
                rows.append((f"{t.name} (InputLayer)", shape_str(t.shape), None, "-"))
                continue
            last = calls[-1]
            shape = shape_str(last.shape)
            if len(last.outputs) > 1:  # Keras lists each output's shape: [(None, 4), (None, 4)]
                shape = "[" + ", ".join(shape_str(o.shape) for o in last.outputs) + "]"
            connected = ", ".join(
                f"{_tensor_name(p)}[{self._call_index(p)}][{p.index}]"
                for t in calls
                for p in t.inputs
            )
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, layer, connected or "-"))
        return rows

    def _summary_is_chain(self):
        """Keras prints a Functional model like a Sequential one when its graph is a chain: one
        call at each depth, each reading one tensor, and no layer called twice."""
        depths = [self._depth[id(t)] for t in self._order]
        return (
            len(set(depths)) == len(depths)
            and all(len(t.inputs) <= 1 for t in self._order)
            and not any(len(calls) > 1 for calls in self._calls.values())
        )


_MULTI_INPUT = (Merge,)  # layer classes that always take a list, even of one tensor


def _tensor_name(t):
    return t.name if t.layer is None else t.layer.name


Model.FUNCTIONAL = Functional  # Model(inputs, outputs) makes one of these
