"""Lambda: any function of tensors as a layer, ``Lambda(lambda x: x ** 2)``.

The function runs on ``scratchnet.ops`` Tensors, so autodiff finds its gradient: a Lambda is a
layer written with ``call`` (see ``scratchnet.layers.calling``), the only built-in layer without
a hand-written backward, because its math is whatever you pass.

Saving: as in Keras, a Python ``lambda`` is written into ``config.json`` as its marshalled
bytecode (base64), its defaults and its closure values. Loading that runs Python code from the
file, so ``Lambda.from_config`` refuses it unless the caller passes ``safe_mode=False`` (and
trusts the file). A named function (``def``) is written by its registered name instead and
found again among the custom objects, with no code in the file.
"""

import codecs
import inspect
import marshal
import types

import numpy as np

from .. import activations
from ..ops.core import Tensor, convert_to_tensor
from . import calling
from .base import Layer

_REFUSED = (
    "Requested the deserialization of a `Lambda` layer whose `{what}` is a Python lambda. This "
    "carries a potential risk of arbitrary code execution and thus it is disallowed by default. "
    "If you trust the source of the artifact, you can override this error by passing "
    "`safe_mode=False` to the loading function."
)


def function_to_config(fn):
    """A function for ``get_config``, as Keras's ``Lambda._serialize_function_to_config``.

    A ``lambda`` becomes ``{"class_name": "__lambda__", "config": {"code", "defaults",
    "closure"}}``: ``code`` is ``marshal.dumps(fn.__code__)`` in base64 (Keras's
    ``python_utils.func_dump``; the same Python version reads it back). A named function stays
    the function: the saving code writes it by its registered name.
    """
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        code = codecs.encode(marshal.dumps(fn.__code__), "base64").decode("ascii")
        closure = tuple(c.cell_contents for c in fn.__closure__) if fn.__closure__ else None
        return {
            "class_name": "__lambda__",
            "config": {"code": code, "defaults": fn.__defaults__, "closure": closure},
        }
    if callable(fn):
        return fn
    raise ValueError(f"Lambda: expected a function, got {fn!r} of type {type(fn).__name__}.")


def is_lambda_config(value):
    """Whether a config value is a marshalled lambda (``{"class_name": "__lambda__", ...}``)."""
    return isinstance(value, dict) and value.get("class_name") == "__lambda__"


def function_from_config(value, what, safe_mode, custom_objects=None):
    """The function a Lambda's config holds under ``what`` ('function' or 'output_shape').

    A marshalled lambda is refused when ``safe_mode`` is not False (None counts as safe: fail
    closed, as Keras does outside a safe-mode scope); with ``safe_mode=False`` its bytecode is
    loaded (Keras's ``func_load``; the function's globals are this module's, as Keras gives it
    those of ``keras.src.utils.python_utils``). A named function's entry is looked up by its
    registered name, then its bare name, in ``custom_objects``, then among the activations.
    """
    if is_lambda_config(value):
        if safe_mode is not False:
            raise ValueError(_REFUSED.format(what=what))
        inner = value["config"]
        code = marshal.loads(codecs.decode(inner["code"].encode("ascii"), "base64"))
        defaults = tuple(inner["defaults"]) if inner.get("defaults") is not None else None
        closure = inner.get("closure")
        cells = tuple(types.CellType(v) for v in closure) if closure is not None else None
        return types.FunctionType(code, globals(), code.co_name, defaults, cells)
    if not isinstance(value, dict):
        return value  # already a function (or a plain output shape)
    name = value.get("config")
    custom = custom_objects or {}
    for key in (name, str(name).split(">")[-1]):
        if custom.get(key) is not None:
            return custom[key]
    try:
        if not isinstance(name, str):
            raise ValueError
        return activations.get(name)
    except ValueError:
        raise ValueError(
            f"Lambda: cannot find the function {name!r} of its `{what}`. Pass it in "
            "custom_objects, or register it with "
            "@scratchnet.saving.register_keras_serializable()."
        ) from None


class Lambda(Layer):
    """Wrap a function of tensors as a layer: ``Lambda(lambda x: x ** 2)``.

    Args:
        function: called as ``function(inputs, **arguments)`` on Tensors (``scratchnet.ops``
            and the Tensor operators work on them); a list of inputs is passed as a list. If
            it declares ``training``, it receives the training flag.
        output_shape: optional. A tuple: the output shape without the batch axis (the batch
            size is the input's). A function: ``input_shape -> output shape``, batch included.
            None: found by running ``function`` on zeros (unknown sizes tried as 1 and 2).
        mask: only None (scratchnet's layers do not carry masks).
        arguments: optional dict of keyword arguments for ``function``.

    Shapes:
        whatever ``function`` makes of them.

    Math:
        forward:  y = function(x, **arguments), recorded op by op on the tape
        backward: autodiff: each recorded op's backward rule, last op first

    Example:
        >>> import numpy as np
        >>> Lambda(lambda x: x * 2.0)(np.ones((1, 2)))
        array([[2., 2.]], dtype=float32)
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda '{self.name}': function must be callable, got {function!r}.")
        if mask is not None:
            raise ValueError(
                f"Lambda '{self.name}': mask is not supported (scratchnet's layers do not carry "
                "masks); pass mask=None."
            )
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = None
        if output_shape is not None and not callable(output_shape):
            output_shape = tuple(output_shape)
        self._output_shape = output_shape
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            parameters = {}
        self._fn_expects_training_arg = "training" in parameters

    def check_input_shape(self, shape):
        """No rule of its own: the function decides what it accepts (Keras's Lambda has no
        input spec either), and it may take several inputs of different shapes."""

    def call(self, *inputs, training=None):
        kwargs = dict(self.arguments)
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs[0] if len(inputs) == 1 else list(inputs), **kwargs)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return self._traced_shape(input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        first = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        return (first[0], *self._output_shape)

    def _traced_shape(self, input_shape):
        """The output shape of ``function`` on zeros of ``input_shape`` (None tried as 1 and 2)."""
        several = isinstance(input_shape[0], (list, tuple))
        shapes = [tuple(s) for s in input_shape] if several else [tuple(input_shape)]

        def run(unknown):
            zeros = [Tensor(self._zeros(s, unknown)) for s in shapes]
            with calling.running(False):
                return convert_to_tensor(calling.invoke(self, zeros, {}, False)).shape

        first = run(1)
        if not any(d is None for s in shapes for d in s):
            return tuple(first)
        second = run(2)
        return tuple(a if a == b else None for a, b in zip(first, second))

    def _zeros(self, shape, unknown):
        return np.zeros(tuple(unknown if d is None else d for d in shape), dtype=self.dtype)

    def get_config(self):
        config = {"function": function_to_config(self.function)}
        if self._output_shape is not None:
            config["output_shape"] = (
                function_to_config(self._output_shape)
                if callable(self._output_shape)
                else self._output_shape
            )
        config["arguments"] = dict(self.arguments)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        """The Lambda back from ``get_config()``, as Keras's ``Lambda.from_config``.

        Args:
            config: what ``get_config`` (or Keras) wrote.
            custom_objects: ``{name: function}`` to find a named function in.
            safe_mode: a marshalled lambda is loaded only if this is False (see
                ``function_from_config``); True or None refuses it with a ValueError.
        """
        config = dict(config)
        config["function"] = function_from_config(
            config["function"], "function", safe_mode, custom_objects
        )
        if "output_shape" in config:
            shape = function_from_config(
                config["output_shape"], "output_shape", safe_mode, custom_objects
            )
            if isinstance(shape, list) and all(isinstance(d, (int, type(None))) for d in shape):
                shape = tuple(shape)
            config["output_shape"] = shape
        return cls(**config)
