"""The base of every model: compile, fit, evaluate, predict, and the training step they share.

All three share one engine, in ``Model``:

* ``forward(x, training=True)`` runs ``call`` with a ``Tape`` open, so every layer call is recorded
  (see ``scratchnet.layers.base``);
* the loss gives dL/d(output) (or, fused with a final softmax/sigmoid, dL/d(logits): see
  ``scratchnet.losses.ActivationWithLoss``);
* ``Tape.backward`` replays the recorded calls in reverse, each layer filling ``layer.grads``;
* the optimizer updates every parameter in place.

A subclass only says what ``call`` does: Sequential chains its layers (``sequential.py``),
Functional replays the graph built from ``Input`` (``functional.py``), and a user's subclass
writes plain Python. Backprop is the same for all. ``summary.py`` prints Keras's table.

Example:
    >>> from scratchnet import Input, layers, models
    >>> model = models.Sequential([Input((4,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    >>> model.count_params()
    10
"""

import functools
import math
import sys

import numpy as np

from .. import callbacks as callbacks_module
from .. import config, constraints, graph
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..kernels import process
from ..layers import calling
from ..layers.base import Layer
from ..losses import ActivationWithLoss
from ..naming import to_snake_case, unique_name
from ..ops.core import Tensor, convert_to_tensor, structure_version
from ..saving import registry
from ..tape import Tape
from . import data
from . import summary as summary_module
from .checks import match_input_shape, numeric
from .compiled import CompiledOutputs, OutputTrackers, fusable_outputs
from .general import GeneralSteps
from .guard import TrainingGuard
from .inference import Inference
from .interrupts import DeferredInterrupt
from .nesting import ModelAsLayer
from .utilities import ModelUtilities


@registry.register("Model")
class Model(GeneralSteps, Inference, ModelUtilities, ModelAsLayer):
    """The base of every model. ``Model(inputs, outputs)`` makes a Functional model.

    Subclass it and write ``call(self, inputs, training=False)`` built from layer calls; layers
    assigned as attributes in ``__init__`` are tracked in order (``model.layers``). A model is
    a layer too: it can be nested in another model (``nesting.py``).
    """

    FUNCTIONAL = None  # the Functional class, registered by functional.py
    RECORDS_LAYER_CALLS = False  # Sequential and Functional: a tape of layer calls (faster)

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(Model.FUNCTIONAL)
        return super().__new__(cls)

    def __init__(self, name=None, trainable=True, dtype=None, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {sorted(kwargs)}.")
        self._init_layer_state(trainable, dtype)  # a model is a layer (nesting.py)
        self.name = name or unique_name(self._default_name())
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.compiled = False
        self.stop_training = False
        self._tape = None  # the latest training forward pass, for backward (see forward)
        self._trackers = None  # fit's running means of the loss and metrics
        self._general = False  # several inputs/outputs or per-output losses (general.py)
        self._general_now = False  # the step that runs now is the general one
        self._guard = TrainingGuard()  # which thread trains the model (see guard.py)

    def _default_name(self):
        return to_snake_case(type(self).__name__)

    # -- layers and weights ---------------------------------------------------------------------

    def __setattr__(self, key, value):
        # Track layers assigned as attributes (the subclassing API), in assignment order.
        if key == "trainable":
            return self._set_trainable(value)
        tracked = self.__dict__.setdefault("_tracked_layers", [])
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, Layer) and item not in tracked:
                tracked.append(item)
        object.__setattr__(self, key, value)

    @property
    def layers(self):
        return list(self.__dict__.get("_tracked_layers", []))

    @property
    def weights(self):
        """Every layer's Variables, layer by layer, each layer's in Keras's order."""
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def _trainable_slots(self):
        """``[(layer, key, array)]`` of every trainable weight, in ``trainable_weights`` order.

        The training step asks for it every step, so it is kept while the model's layers stay
        the same and no weight is made or frozen anywhere (``ops.core.structure_version``).
        """
        key = (structure_version(), tuple(map(id, self.__dict__.get("_tracked_layers", ()))))
        cached = self.__dict__.get("_slots_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        variables = self.trainable_weights
        slots = [(v.owner, v.key, v.value) for v in variables]
        self.__dict__["_slots_cache"] = (key, slots)
        # whether the step must apply constraints after the update (add_weight(constraint=...))
        self.__dict__["_constrained"] = any(v.constraint is not None for v in variables)
        return slots

    def gradients(self):
        """The gradients of the last backward pass, in ``trainable_weights`` order."""
        return [owner.grads[key] for owner, key, _ in self._trainable_slots()]

    def get_weights(self):
        """Copies of all weights in Keras's order, so ``keras_model.set_weights`` accepts them."""
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set all weights from a list in Keras's order (e.g. ``keras_model.get_weights()``)."""
        weights = list(weights)
        self._require_built("set_weights")
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(
                f"Model '{self.name}': set_weights expected {expected} arrays (one per kernel and "
                f"bias, in layer order), got {len(weights)}."
            )
        i = 0
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(weights[i : i + n])
            i += n

    def count_params(self):
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"Model '{self.name}' is not built yet, so {what} cannot run. Give the first layer "
                "an input shape (start with scratchnet.Input(shape) or pass input_shape=...), or "
                "call the model on a batch of data first."
            )

    # -- forward and backward --------------------------------------------------------------------

    def call(self, inputs, training=False):
        raise NotImplementedError(
            f"{type(self).__name__} must define call(self, inputs, training=False) made of layer "
            "calls."
        )

    def __call__(self, x, training=None, mask=None):
        """Run the model on a batch: ``model(x)`` returns a NumPy array (no tape, no caches).

        Safe from many threads at once (see ``scratchnet.layers.base``, "Threads"), but not
        while another thread trains the model (``guard.py``). Called on an ``Input``, or inside
        another model, the model is one of its layers (``nesting.py``)."""
        if graph.is_symbolic(x):
            return self.call_symbolic(x)
        nested = self.call_nested(x, training)
        if nested is not None:
            return nested
        training = bool(training)
        ticket = self._guard.inference_ticket(self, "model(x)")
        x = self._prepare_x(x)
        with process.one_thread_blas():
            if self.RECORDS_LAYER_CALLS:
                y = self.call(x, training=training)
            else:
                with calling.running(False):  # a subclassed model's call() gets a Tensor
                    y = convert_to_tensor(calling.invoke(self, [Tensor(x)], {}, training)).value
        self._guard.check_ticket(self, "model(x)", ticket)
        return y

    def _prepare_x(self, x):
        if self.__dict__.get("_multi_input"):  # one array per input (data.py)
            xs = x if isinstance(x, list) else data.flatten_x(self, x, "call")
            return [self._prepare_one(xk, k) for k, xk in enumerate(xs)]
        return self._prepare_one(x, 0)

    def _prepare_one(self, x, index):
        x = match_input_shape(self, numeric(np.asarray(x), "x", "call"), "call", index)
        if "_build_input_shape" not in self.__dict__:
            self._build_input_shape = x.shape  # a subclassed model's build_config in saved files
        # Integer inputs (raw uint8 pixels) become floats, as Keras casts them to the input dtype.
        return x if x.dtype.kind == "f" else x.astype(config.floatx())

    def forward(self, x, training=True):
        """Run ``call`` recording it for ``backward``: each layer call on a tape (Sequential,
        Functional), or each op and layer call on Tensors (a subclassed model's ``call``).
        The recording is kept on the model until the next ``forward``: a training step's."""
        self._tape = self._output = None  # let the last step's activations go before new ones come
        self._tape, self._output = self._record(x, training)
        return self._output

    def _record(self, x, training):
        """``(recording, output)``: one forward pass recorded, for this call alone (a test step
        of ``evaluate`` keeps it in the step, so threads evaluating at once keep theirs)."""
        x = self._prepare_x(x)
        if not self.RECORDS_LAYER_CALLS:
            return self._forward_ops(x, training)
        with Tape(training=training) as tape:
            for xk in x if isinstance(x, list) else [x]:  # several inputs: each one
                tape.watch(xk)
            y = self.call(x, training=training)
        if any(id(out) not in tape.known for out in (y if isinstance(y, list) else [y])):
            raise ValueError(
                f"{type(self).__name__}.call() returned an array that no scratchnet layer "
                "produced. Backprop starts from the output and only knows how to go back "
                "through layer calls."
            )
        return tape, y

    def _forward_ops(self, x, training):
        """A subclassed model's forward pass: ``call`` on a Tensor, its ops and layer calls
        recorded on Tensors (``calling.OpsGraph``), so raw arithmetic in ``call`` trains."""
        with calling.running(training), calling.one_step():
            y = convert_to_tensor(calling.invoke(self, [Tensor(x)], {}, training))
        # Only the output layer's logits can meet a fused loss: let the others go now rather
        # than hold them through backward.
        for layer in self.layers if training else ():
            if layer is not y.layer and getattr(layer, "logits", None) is not None:
                layer.logits = None
        return calling.OpsGraph(y, self), y.value

    def backward(self, dy, need_dx=None):
        """Backprop dL/d(output) through the last ``forward``; gradients land in each layer."""
        if need_dx is not None:  # the model's call as one node of an outer tape (nesting.py)
            return calling.autodiff_backward(self, dy, need_dx)
        if self._tape is None:
            raise RuntimeError("backward() needs a forward(x, training=True) first.")
        self._tape.backward(self._output, dy)

    def _fused_loss(self, recording, y_pred, logits=None):
        """The output layer and the loss as one step, if they fuse (``ActivationWithLoss``).

        The logits are the output layer's own after a training pass, or a test step's
        ``logits`` (``{id(output): z}``, from ``ActivationWithLoss.collect``)."""
        layer = recording.output_layer(y_pred)
        z = getattr(layer, "logits", None) if logits is None else logits.get(id(y_pred))
        return ActivationWithLoss.find(self.loss, layer, z)

    def compute_loss_and_gradients(self, x, y, training=True):
        """Forward, loss and backward on one batch. Returns (loss, gradients).

        The gradients are in ``trainable_weights`` order. With softmax + cross-entropy the loss
        hands dL/dz = (p - y) / N straight to the output layer's logits, skipping the softmax's own
        backward, as Keras does (see ``scratchnet.losses``).
        """
        self._require_compiled("compute_loss_and_gradients")
        y_pred = self.forward(x, training=training)
        loss_value = self._backprop_loss(y, y_pred)
        return loss_value, self.gradients()

    def _backprop_loss(self, y_true, y_pred):
        """The batch loss, and backprop of its gradient through the last forward pass."""
        fused = self._fused_loss(self._tape, y_pred)
        if fused is not None:  # softmax/sigmoid + cross-entropy: dL/dz straight into the logits
            loss_value, dz = fused.value_and_gradient(y_true)
            self._tape.backward(y_pred, dz, from_logits=True)
        elif self.loss.from_logits:  # the output is the logits
            loss_value, dy = self.loss.value_and_grad_from_logits(y_true, y_pred)
            self._tape.backward(y_pred, dy)
        else:
            loss_value = self.loss(y_true, y_pred)
            self._tape.backward(y_pred, self.loss.gradient(y_true, y_pred))
        return self._plus_added_losses(loss_value)

    @property
    def losses(self):
        """The losses the layers added (``Layer.add_loss``) in the latest forward pass."""
        layers = self.__dict__.get("_tracked_layers", ())
        return [loss for la in layers if la._losses or la._layers for loss in la.losses]

    def _plus_added_losses(self, loss_value):
        """The compiled loss plus the layers' added losses, in the loss's dtype, as Keras sums
        them (their gradients were part of the backward pass)."""
        added = self.losses
        if not added:  # (no layer added one: the usual case, checked in a few microseconds)
            return loss_value
        dtype = np.asarray(loss_value).dtype
        return sum((np.asarray(a, dtype=dtype) for a in added), np.asarray(loss_value))

    # -- compile -----------------------------------------------------------------------------------

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
    ):
        """Choose the optimizer, the loss(es) and metrics (Keras defaults: rmsprop, no metrics).

        With several outputs, ``loss``, ``loss_weights`` and ``metrics`` may be lists (one entry
        per output, None for none) or dicts keyed by output names; one loss applies to every
        output (the rules: ``compiled.py``). ``loss=None`` is for a model whose layers add their
        own losses (``add_loss``); fit then raises if there is none.

        Keras's execution options are accepted and change nothing here, where every step runs
        eagerly in NumPy: ``run_eagerly`` and ``jit_compile`` (there is no graph to compile);
        ``steps_per_execution`` (measured on Keras 3.15: Keras runs that many batches per call
        of its compiled step, with the same numbers, and calls ``on_train_batch_end`` once per
        group with the index ``begin + steps_per_execution - 1``, e.g. 2 and 5 for 5 batches
        and 3 per execution; History and ``params["steps"]`` are unchanged. scratchnet runs
        and reports every batch); ``auto_scale_loss`` (Keras scales the loss of a
        ``mixed_float16`` policy; scratchnet computes in float32 or float64). ``weighted_metrics``
        is not supported (a ValueError if given).
        """
        if weighted_metrics:
            raise ValueError(
                "compile: weighted_metrics is not supported by scratchnet; use metrics "
                "(computed without sample weights, as Keras's metrics are)."
            )
        if not isinstance(steps_per_execution, int) or steps_per_execution < 1:
            raise ValueError(
                f"compile: steps_per_execution must be a positive integer, got "
                f"{steps_per_execution!r}."
            )
        names = data.output_names(self)
        structured = isinstance(loss, (list, tuple, dict)) or loss_weights is not None
        compiled = CompiledOutputs(self, names, loss, loss_weights, metrics)
        self.optimizer = optimizers_module.get(optimizer)
        self._compiled = compiled
        self.loss = compiled.outputs[0].loss if len(names) == 1 else None
        self.metrics = compiled.metrics
        self._general = len(names) > 1 or len(data.input_names(self)) > 1 or structured
        self._general = self._general or self.loss is None
        self._fusable = fusable_outputs(self)
        self.compiled = True
        self._compile_args = {
            "optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
            "metrics": metrics, "steps_per_execution": steps_per_execution,
        }  # fmt: skip
        self._general_now = self._general
        self.reset_metrics()

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(
                f"Model '{self.name}' must be compiled before {what}: call "
                "model.compile(optimizer=..., loss=..., metrics=[...])."
            )

    def reset_metrics(self):
        if self._general_now:
            self._trackers = OutputTrackers(self._compiled, config.floatx())
        else:
            self._trackers = metrics_module.Trackers(self.metrics, config.floatx())

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    def _logs(self, prefix=""):
        return self._trackers.logs(prefix)

    # -- one step ----------------------------------------------------------------------------------

    def _train_step(self, x, y):
        """Forward, loss, backward, update. Returns the batch loss (before the update).

        If the loss is not finite the update is skipped, so the weights stay usable.
        """
        with process.one_thread_blas():
            y_pred = self.forward(x, training=True)
            loss_value = self._backprop_loss(y, y_pred)
            if math.isfinite(float(loss_value)):
                slots = self._trainable_slots()
                grads = [o.grads[k] for o, k, _ in slots]
                if self.optimizer.loss_scale_factor is not None:  # Keras scales the loss
                    grads = [g * self.optimizer.loss_scale_factor for g in grads]
                self.optimizer.apply(grads, [w for _, _, w in slots])
                if self.__dict__["_constrained"]:  # after the update, as Keras applies them
                    constraints.apply_to(o.variables_by_key[k] for o, k, _ in slots)
        self._trackers.update(y, y_pred, loss_value, len(x))
        self._tape = None  # release the caches' references
        return loss_value

    def _test_step(self, x, y, trackers):
        """Loss and metrics of one batch in inference mode, added to ``trackers``. Keeps nothing
        on the model or its layers: threads may run test steps of one model at once."""
        with process.one_thread_blas(), ActivationWithLoss.collect() as logits:
            recording, y_pred = self._record(x, training=False)  # layers cache only in training
        fused = self._fused_loss(recording, y_pred, logits)  # from the logits, as in training
        loss_value = self.loss(y, y_pred) if fused is None else fused.value(y)
        loss_value = self._plus_added_losses(loss_value)
        trackers.update(y, y_pred, loss_value, len(x))

    def _results(self, logs, return_dict):
        return logs if return_dict else self._compiled.order(logs)

    # -- fit / evaluate / predict ------------------------------------------------------------------

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for ``epochs`` passes over (x, y) in mini-batches; returns a ``History``.

        As in Keras: the last partial batch is kept; ``validation_split`` takes the *last*
        fraction of the data (and of its sample weights) before shuffling; the logged loss and
        metrics are running means over the epoch, each batch measured before its update;
        validation runs after each epoch (keys prefixed ``val_``) where ``validation_freq``
        says (every n-th epoch, or the 1-based epochs of a list). ``shuffle=True`` draws a new
        permutation each epoch from NumPy's global generator (``utils.set_random_seed`` makes
        it repeatable). With several inputs or outputs, x and y are lists or dicts keyed by
        names; ``sample_weight`` and ``class_weight`` weight the loss (``data.py``);
        ``steps_per_epoch`` cuts epochs short, each going on where the last stopped;
        ``validation_steps`` evaluates that many batches of the validation data.

        A loss that becomes NaN or infinite stops training with a message naming the epoch and
        step; that step's update is not applied. ``callbacks``: see ``scratchnet.callbacks``.
        """
        self._require_compiled("fit")
        verbose = verbose if verbose == "auto" else int(verbose)  # (callbacks' params keep "auto")
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}.")
        if not isinstance(validation_freq, (int, list)):
            raise ValueError(
                "fit: validation_freq must be an int (every n-th epoch) or a list of epochs, got "
                f"{validation_freq!r}."
            )
        if data.is_stream(x):  # a generator or PyDataset: its batches carry y and weights
            if validation_split:
                raise ValueError(
                    "fit: validation_split needs arrays; with a generator or PyDataset pass "
                    "validation_data."
                )
            train, n_inputs = self._batches(x, y, sample_weight, None, steps_per_epoch, "fit")
            train.shuffle, train.class_weight = shuffle, class_weight
            validation, batch_size = None, None
        else:
            train, n_inputs, validation, batch_size = self._fit_arrays(
                x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch,
                None if validation_data is not None else validation_split,
            )  # fmt: skip
        if validation_data is not None:
            if data.is_stream(validation_data):
                vx, vy, vsw = validation_data, None, None
            else:
                vx, vy, vsw = data.unpack_validation(validation_data)
            validation = self._batches(
                vx, vy, vsw, validation_batch_size or batch_size, validation_steps,
                "fit(validation_data)",
            )  # fmt: skip
        elif validation is not None:
            val, n_val, n_inputs_val = validation
            vbs = validation_batch_size or train.batch_size
            validation = (data.Batches(val, n_val, vbs, steps_per_epoch=validation_steps),
                          n_inputs_val)  # fmt: skip
        self._general_now = n_inputs is not None
        # no other thread runs the model meanwhile; Ctrl-C waits for the step's end (interrupts.py)
        with self._guard.training(self, "fit"), DeferredInterrupt() as deferred:
            return self._fit_epochs(
                deferred, train, n_inputs, epochs, verbose, callbacks, validation, initial_epoch,
                validation_freq,
            )  # fmt: skip

    def _fit_epochs(
        self, deferred, train, n_inputs, epochs, verbose, callbacks, validation, initial_epoch,
        validation_freq,
    ):  # fmt: skip
        """``fit``'s loop over epochs and batches, on checked arguments; returns the History.

        Each step, and History's record of each epoch, runs whole or not at all under Ctrl-C
        (``deferred``, a ``DeferredInterrupt``)."""
        steps = train.steps  # None: a generator of unknown length
        step_fn = self._train_step
        if n_inputs is not None:
            step_fn = functools.partial(self._general_train_step, n_inputs=n_inputs)
        callbacks = callbacks_module.configure(callbacks, self, verbose, epochs, steps, True)
        self.stop_training = False
        callbacks.on_train_begin()
        initial_epoch = self.__dict__.get("_initial_epoch") or initial_epoch  # BackupAndRestore
        training_logs = None
        for epoch in range(initial_epoch, epochs):
            self._general_now = n_inputs is not None
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            batch_hooks = callbacks.has_train_batch_hooks  # (none: no batch logs to collect)
            for step, batch in enumerate(train.epoch()):
                if batch_hooks:
                    callbacks.on_train_batch_begin(step)
                loss_value = deferred.run(step_fn, *batch)
                if batch_hooks:
                    callbacks.on_train_batch_end(step, self._logs())
                if not math.isfinite(float(loss_value)):
                    print(
                        f"\nfit: the loss became {float(loss_value)} at epoch {epoch + 1}, step "
                        f"{step + 1}/{steps}. Training stopped; that step's update was not "
                        "applied, so the weights are the last finite ones. Try a lower learning "
                        "rate, or scale the inputs (e.g. x / 255).",
                        file=sys.stderr,
                    )
                    self.stop_training = True
                if self.stop_training:
                    break
            if getattr(train, "exhausted", False):  # a generator read to its end: no epoch
                break
            epoch_logs = self._logs()
            if validation is not None and data.should_eval(epoch, validation_freq):
                # fit's callbacks get the on_test_* hooks, as in Keras
                val = self._evaluate_batches(*validation, verbose=0, callbacks=callbacks)
                epoch_logs = dict(
                    sorted({**epoch_logs, **{"val_" + k: v for k, v in val.items()}}.items())
                )
            deferred.run(callbacks.on_epoch_end, epoch, epoch_logs)  # (History records it whole)
            training_logs = epoch_logs
            if self.stop_training:
                break
        if epochs > 0:  # with use_ema, the weights become their moving averages (as Keras)
            self.optimizer.finalize_variable_values([w for _, _, w in self._trainable_slots()])
        callbacks.on_train_end(training_logs)
        return self.history

    # -- summary -----------------------------------------------------------------------------------

    def summary(self, line_length=None, print_fn=None, expand_nested=False, show_trainable=False):
        """Print Keras's summary table: layer names and types, output shapes, parameter counts
        (``expand_nested``: a nested model's layers too; ``show_trainable``: a Trainable column)."""
        print_fn = print_fn or print
        print_fn(summary_module.summary_text(self, line_length, expand_nested, show_trainable))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, {len(self.layers)} layers>"
