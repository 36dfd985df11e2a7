"""The Layer base class: building, shape checks, weights, calling and recording on the tape.

A layer subclass writes:

* ``build(input_shape)``: create parameters with ``add_weight`` (Keras's names and layouts);
* ``compute_output_shape(input_shape)``: shapes with ``None`` for the batch, so ``summary()``
  needs no data;
* ``forward(x, training)``: the math; when ``training`` is true, cache exactly what backward needs;
* ``backward(dy, need_dx=True) -> dx``: the chain rule; store parameter gradients in
  ``self.grads`` under the parameter's name; never modify ``dy``. With ``need_dx=False`` (the
  first layer: nobody needs dL/d(image)) it may skip computing dx and return None.

A layer that ends in an activation (Dense, Conv2D, Activation) splits its backward in two, the
chain rule's two steps: ``backward`` goes through the activation, dz = activation'(dy), then
calls ``backward_from_logits(dz)``, the rest. A loss fused with a softmax or sigmoid output
(``scratchnet.losses.ActivationWithLoss``) starts at the second.

Calling a layer (``Layer.__call__``) builds it on first use, checks the input, runs ``forward``
and records the call on the open tape (``scratchnet.tape``), which backprop replays in reverse.

Threads. A web server calls ``predict`` on one model from many threads at once, so inference
(``training=False``) keeps nothing on the layer: every array it makes belongs to the call. What
one call needs to hand to the next step goes where only that call looks: the tape of the thread
that runs it (``Tape.active()``), a test step's logits (``ActivationWithLoss.collect``), a
convolution's scratch matrices lent to one call at a time (``kernels.conv.chunks.Workspaces``),
the losses of this thread's latest call (``losses``). Training caches (``self._x = x``, what
backward needs) do stay on the layer, from one training forward pass to its backward: a model
trains on one thread at a time, and says so if another thread tries (``models.guard``). So a
layer you write may keep in ``self`` what its backward needs when ``training`` is true, and
nothing when it is false.
"""

import threading

import numpy as np

from .. import config, constraints, graph, initializers, regularizers
from ..naming import shape_str, to_snake_case, unique_name
from ..ops.core import Variable, structure_changed
from ..tape import Tape
from . import calling


def _as_shape(input_shape):
    """A shape as a tuple; a list of shapes (a layer of several inputs) as a list of tuples."""
    if input_shape and isinstance(input_shape[0], (list, tuple)):
        return [tuple(s) for s in input_shape]
    return tuple(input_shape)


# While a file is loaded, ``scratchnet.saving`` sets ``WEIGHT_CHECK.check(layer, shape, dtype)``:
# it refuses a weight the file cannot hold before the initializer allocates it (saving/weights.py).
WEIGHT_CHECK = threading.local()
_BUILDING = threading.RLock()  # two threads calling an unbuilt layer first: one builds it


class _PerThread(threading.local):
    """Attributes that each thread sees its own of; a copy of a layer (``copy.deepcopy``, as
    ``gradcheck`` makes) starts with none."""

    def __deepcopy__(self, memo):
        return type(self)()


class Layer:
    """Base class of every scratchnet layer.

    Args:
        name: a unique name; by default the snake-cased class name with a counter
            (``conv2d``, ``conv2d_1``, ...), as in Keras.
        input_shape: the shape of one sample, without the batch axis. Only meaningful on the first
            layer of a Sequential model, as in Keras.
        trainable: whether an optimizer updates this layer's parameters.
    """

    input_ndim = None  # the rank this layer needs, batch axis included (None: any)
    min_ndim = None  # or the smallest rank it accepts

    def __init__(self, name=None, input_shape=None, trainable=True, dtype=None, **kwargs):
        if "input_dim" in kwargs:  # Dense(…, input_dim=784) is Keras 2 for input_shape=(784,)
            input_shape = (kwargs.pop("input_dim"),)
        if "batch_input_shape" in kwargs:
            input_shape = tuple(kwargs.pop("batch_input_shape"))[1:]
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}. "
                "Check the spelling against the Keras documentation of this layer."
            )
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.trainable = trainable
        self.dtype = np.dtype(dtype or config.floatx())
        self.built = False
        self.input_shape = None  # (None, ...) once built
        self.params = {}  # name -> array, in Keras's weight order (kernel, then bias)
        self.grads = {}  # name -> dL/d(param), set by backward
        self._variables = {}  # name -> the Variable holding params[name] (add_weight)
        self._layers = []  # sublayers, in the order they were assigned (__setattr__)
        self._this_thread = _PerThread()  # .losses: what add_loss got in this thread's call
        self.activity_regularizer = None  # a penalty on the output (the layers that take one)
        # A softmax or sigmoid layer's training forward pass keeps its logits z here, for a loss
        # fused with it (see losses.ActivationWithLoss; not in inference: see Threads above).
        self.logits = None

    # -- parameters ----------------------------------------------------------------------------

    def add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable=True,
        autocast=True,
        regularizer=None,
        constraint=None,
        aggregation="none",
        overwrite_with_gradient=False,
        name=None,
    ):
        """Create a weight, as Keras's ``Layer.add_weight``: a ``Variable`` the layer computes
        with, saved with the layer and (if ``trainable``) updated by the optimizer.

        Args:
            shape: the weight's shape (a tuple; ``()`` for a scalar).
            initializer: a name ('glorot_uniform', 'zeros', 'random_uniform', ...), an
                initializer object or a callable ``(shape, dtype) -> array``. Default: Keras's,
                'glorot_uniform' for float weights and 'zeros' for the others.
            dtype: default the layer's dtype.
            trainable: whether the optimizer updates it (a counter or a running total is not).
            regularizer: a callable ``(weight) -> scalar`` added to the loss, or None.
            constraint: a callable ``(weight) -> weight`` applied after each update, or None.
            name: Keras's name for it ('kernel', 'bias', ...); default 'variable'.

        Works in ``__init__`` as in ``build``. ``self.params[key]`` is the very array the
        Variable holds, which built-in layers compute with directly.
        """
        dtype = np.dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
        init = initializers.get(initializer) if isinstance(initializer, str) else initializer
        shape = () if shape is None else tuple(shape)
        check = getattr(WEIGHT_CHECK, "check", None)
        if check is not None:
            check(self, shape, dtype)
        value = np.array(init(shape, dtype), dtype=dtype, order="C", copy=None)  # 0-d stays 0-d
        name = name or "variable"
        key, n = name, 1
        while key in self.params:  # Keras allows two weights of one name; the dict does not
            key, n = f"{name}_{n}", n + 1
        self.params[key] = value
        variable = Variable(value, trainable=trainable, name=name)
        variable.regularizer = regularizers.get(regularizer)  # a name, an object or None
        variable.constraint = constraints.get(constraint)
        variable.owner, variable.key = self, key
        self._variables[key] = variable
        return variable

    @property
    def variables_by_key(self):
        """{key in ``params``: Variable}, in creation order (this layer's own)."""
        return self._variables

    @property
    def weights(self):
        """This layer's Variables then its sublayers', Keras's order: trainable ones first."""
        own = list(self._variables.values())
        found = [v for v in own if v.trainable] + [v for v in own if not v.trainable]
        seen = {id(v) for v in found}
        for layer in self._layers:
            for v in layer.weights:
                if id(v) not in seen:
                    found.append(v)
                    seen.add(id(v))
        return found

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [v for v in self.weights if not v.trainable]

    def get_weights(self):
        """Copies of the weights as NumPy arrays, in Keras's order (``weights``)."""
        return [v.value.copy() for v in self.weights]

    def set_weights(self, weights):
        """Overwrite the weights in place from a list in Keras's order and layout."""
        weights, variables = list(weights), self.weights
        if len(weights) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) has {len(variables)} weight "
                f"array(s) {[v.name for v in variables]}, but set_weights got {len(weights)}. "
                + (
                    "Build the layer first (call it on data or give input_shape). "
                    if not self.built
                    else ""
                )
            )
        for variable, new in zip(variables, weights):
            new, current = np.asarray(new), variable.value
            if new.shape != current.shape:
                hint = ""
                if new.ndim == current.ndim and sorted(new.shape) == sorted(current.shape):
                    hint = (
                        " It looks transposed or in another layout: scratchnet uses Keras's "
                        "layouts."
                    )
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): weight '{variable.name}' has "
                    f"shape {current.shape}, but set_weights got shape {new.shape}.{hint}"
                )
        for variable, new in zip(variables, weights):
            variable.value[...] = new  # in place: optimizers and caches keep the same array

    def count_params(self):
        return int(sum(v.value.size for v in self.weights))

    # -- losses the layer adds ----------------------------------------------------------------

    def add_loss(self, loss):
        """Add ``loss`` (a scalar, computed with ``scratchnet.ops`` in ``call``) to the model's
        training loss, as Keras's ``add_loss``: ``fit`` adds the sum of ``model.losses`` to the
        compiled loss, and backprop differentiates it too. Reset at every call of the layer."""
        self._losses.append(loss)

    @property
    def _losses(self):
        """The list ``add_loss`` appends to: this thread's latest call's (see Threads above)."""
        return self._this_thread.__dict__.setdefault("losses", [])

    @_losses.setter
    def _losses(self, losses):
        self._this_thread.losses = losses

    @property
    def losses(self):
        """The losses this layer and its sublayers added in their latest calls."""
        if not self._layers:
            return self._losses
        found = list(self._losses)
        for layer in self._layers:
            found += layer.losses
        return found

    # -- shapes --------------------------------------------------------------------------------

    @property
    def input(self):
        """The symbolic tensor (or list) the layer was first called on, as Keras's."""
        return self._symbolic_call_part(0, "input")

    @property
    def output(self):
        """The symbolic tensor (or list) the layer's first call on symbolic tensors made."""
        return self._symbolic_call_part(1, "output")

    def _symbolic_call_part(self, i, what):
        call = self.__dict__.get("_symbolic_call")
        if call is None:
            raise AttributeError(
                f"The layer {self.name} has never been called and thus has no defined {what}."
            )
        return call[i]

    def check_input_shape(self, shape):
        """Raise a clear error if an input of ``shape`` (batch axis included) cannot work."""
        ndim = len(shape)
        if self.input_ndim is not None and ndim != self.input_ndim:
            hint = ""
            if self.input_ndim == 4 and ndim == 3:
                hint = (
                    " For single-channel images such as MNIST, add a channel axis: "
                    "x[..., None] (or np.expand_dims(x, -1)) gives (N, H, W, 1)."
                )
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects a {self.input_ndim}-D input "
                f"{self.input_layout()}, but got shape {tuple(shape)}.{hint}"
            )
        if self.min_ndim is not None and ndim < self.min_ndim:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects an input with at least "
                f"{self.min_ndim} dimensions, but got shape {tuple(shape)}."
            )
        if self.built and self.input_shape is not None:
            expected = self.input_shape[1:]
            if len(expected) == ndim - 1 and any(
                e is not None and e != a for e, a in zip(expected, shape[1:])
            ):
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) was built for inputs of shape "
                    f"{shape_str(self.input_shape)}, but got {tuple(shape)}. Every batch must "
                    "have the same per-sample shape as the data the layer was built on."
                )

    def input_layout(self):
        return "(batch, height, width, channels)" if self.input_ndim == 4 else ""

    def build(self, input_shape):
        """Create the parameters for inputs of ``input_shape`` (batch axis first, may be None)."""
        self.input_shape = tuple(input_shape)
        self.built = True

    def build_from_shape(self, input_shape):
        """``build``, then mark the layer built, as Keras does after a user's ``build`` (which
        need not call ``super().build``)."""
        self.build(input_shape)

    def __init_subclass__(cls, **kwargs):
        """Every subclass's ``build`` marks the layer built and remembers the shape it was built
        on, as Keras wraps ``build``: a user's ``build`` need not call ``super().build``, and a
        sublayer built by hand inside it is not built again later."""
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is None or getattr(build, "_marks_built", False):
            return

        def marked(self, input_shape):
            build(self, input_shape)
            if self.input_shape is None:
                self.input_shape = _as_shape(input_shape)
            self._build_shape = input_shape
            self.built = True

        marked.__doc__, marked.__name__, marked._marks_built = build.__doc__, "build", True
        cls.build = marked

    def get_build_config(self):
        """``{"input_shape": ...}``: what ``build`` was given (Keras's build config), or None."""
        if not self.built:
            return None
        shape = getattr(self, "_build_shape", self.input_shape)
        return {"input_shape": shape}

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (batch axis ``None``). A layer that does not
        define it is traced instead, on zeros, when called on an ``Input``."""
        return tuple(input_shape)

    # -- calling -------------------------------------------------------------------------------

    def __setattr__(self, key, value):
        """Track the sublayers assigned as attributes, also inside lists and dicts, as Keras
        does: their weights are this layer's too, they train and they are saved."""
        if key[0] == "_" and not isinstance(value, Layer):  # caches (self._x = x): fast
            object.__setattr__(self, key, value)
            return
        if key == "trainable":
            structure_changed()  # (a model's list of what it trains is now out of date)
        if "_layers" in self.__dict__:
            if isinstance(value, Layer):
                items = [value]
            elif isinstance(value, dict):
                items = list(value.values())
            elif isinstance(value, (list, tuple)):
                items = value
            else:
                items = ()
            for item in items:
                if isinstance(item, Layer) and item is not self and item not in self._layers:
                    self._layers.append(item)
                    structure_changed()
        object.__setattr__(self, key, value)

    def writes_call(self):
        """True for a layer written the Keras way (``call``, differentiated by autodiff), False
        for one with a hand-written ``forward`` and ``backward`` (every built-in layer)."""
        return type(self).forward is Layer.forward

    def __call__(self, *args, training=None, mask=None, **kwargs):
        """Build on first use, check the input, run the layer, and record the call for backprop.

        ``training=None`` (a call inside a model's ``call`` that does not pass it) inherits the mode
        of the model call being recorded, as in Keras; outside a model it means inference.
        Calling a layer on a symbolic tensor (``Input(...)``) instead builds a graph; see
        ``scratchnet.models``. A layer written with ``call`` may take several tensors,
        ``layer(a, b)``, and keyword arguments; see ``scratchnet.layers.calling``.
        """
        writes_call = self.writes_call()
        if len(args) == 1 and type(args[0]) is np.ndarray and not kwargs:
            return self._call_on_arrays(args[0], training, writes_call, {})  # the hot path
        if not writes_call and (len(args) != 1 or kwargs):
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}) takes one input (a tensor, or a "
                f"list of tensors), got {len(args)} positional and {sorted(kwargs)} keyword "
                "argument(s)."
            )
        x = args[0] if len(args) == 1 else list(args)
        if graph.is_symbolic(x):
            if type(self).compute_output_shape is Layer.compute_output_shape:
                # No shape rule of its own: run the layer once on zeros and read the shape
                # (as Keras traces call), rather than guess that it keeps its input's shape.
                return calling.trace(self, args, kwargs)
            return graph.call_symbolic(self, x)
        if calling.has_tensors(args):  # inside another layer's or a subclassed model's call
            if training is None:
                training = calling.training_mode()
            if writes_call:
                self._build_from(args)
                with calling.running(training):
                    return calling.invoke(self, args, kwargs, training, mask)
            return calling.layer_op(self, x, training)
        return self._call_on_arrays(x, training, writes_call, kwargs)

    def _call_on_arrays(self, x, training, writes_call, kwargs):
        """``layer(x)`` for NumPy data (an array, or a list for a merge layer): build, check,
        run, and record the call on the open tape (a Sequential or Functional training step)."""
        inputs = x if isinstance(x, (list, tuple)) else [x]
        inputs = [self._cast(t) for t in inputs]
        shapes = [t.shape for t in inputs]
        for s in shapes:
            self.check_input_shape(s)
        if not self.built:
            self._build_once(shapes if isinstance(x, (list, tuple)) else shapes[0])
        tape = Tape.active()
        if training is None:
            training = tape.training if tape is not None else calling.training_mode()
        if tape is not None and training and id(self) in tape.latest:
            tape.before_call(self)  # called before in this pass: a shared layer (tape.py)
        if writes_call:
            y = calling.autodiff_forward(self, inputs, kwargs, training)
        else:
            y = self.forward(inputs if isinstance(x, (list, tuple)) else inputs[0], training)
        if tape is not None:
            tape.record(self, list(x) if isinstance(x, (list, tuple)) else [x], y, training)
        return y

    def _build_from(self, args):
        """Build a layer written with ``call`` from the shapes of the tensors it is called on."""
        if not self.built:
            shapes = [tuple(a.shape) for a in calling.flatten(args) if hasattr(a, "shape")]
            self._build_once(shapes if len(shapes) > 1 else shapes[0])

    def _build_once(self, input_shape):
        """``build_from_shape`` on first use, by one thread only: another thread calling the
        layer at the same moment waits, then finds it built (no second set of weights)."""
        with _BUILDING:
            if not self.built:
                self.build_from_shape(input_shape)

    def _cast(self, t):
        """An input as an array in the layer's dtype; integer inputs of a layer written with
        ``call`` stay integers (token ids, indices), as Keras leaves them."""
        t = np.asarray(t)
        if t.dtype == self.dtype or (t.dtype.kind in "biu" and self.writes_call()):
            return t
        return t.astype(self.dtype)

    def call(self, *args, **kwargs):
        """What the layer computes, written with ``scratchnet.ops`` (Keras's way). Define either
        this, or ``forward`` and ``backward`` (backprop by hand, as the built-in layers do)."""
        raise NotImplementedError(
            f"{type(self).__name__} defines neither call(self, inputs) nor forward/backward. "
            "Write call() with scratchnet.ops (autodiff finds the gradient), or forward() and "
            "backward() to write backprop by hand."
        )

    def forward(self, x, training=False):
        """The forward pass of a layer written with ``call`` (built-in layers define their own)."""
        xs = x if isinstance(x, (list, tuple)) else [x]
        return calling.autodiff_forward(self, xs, {}, training)

    def backward(self, dy, need_dx=True):
        """Backprop through ``call``'s recorded ops (built-in layers define their own)."""
        return calling.autodiff_backward(self, dy, need_dx)

    # -- config --------------------------------------------------------------------------------

    def get_config(self):
        """The layer's constructor arguments with Keras's keys (used by save and summary).
        An activity regularizer, once set, comes right after ``dtype``, as Keras writes it."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        """The layer back from ``get_config()`` (its dtype included, as Keras keeps it)."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
