"""PyTorch, the benchmark's second peer: the same six models written the way a PyTorch user writes
them, a plain training loop, and a check that they compute what the Keras models compute.

PyTorch is optional (``pip install -e '.[bench]'``, which pins the CPU build ``torch==2.13.0``):
``load`` returns None when it is missing, and the benchmark then leaves its columns out and says
so (``NOT_INSTALLED``). Nothing here imports torch at module level.

How a tutorial becomes a PyTorch model (``build``), from the same ``keras_impl.architectures``
description the two other libraries are built from, so the three cannot drift apart:

* ``nn.Sequential`` of ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.Dropout``, ``nn.Flatten``,
  ``nn.Linear``, ``nn.BatchNorm2d`` and ``nn.ReLU`` / ``nn.Sigmoid`` modules, on NCHW tensors:
  the images are transposed from NHWC once, up front, outside every clock (``to_tensor``).
* The last ``Dense(10, softmax)`` becomes ``nn.Linear`` giving logits, and the loss is
  ``nn.CrossEntropyLoss`` on the logits with integer class labels: how a PyTorch user writes
  softmax + categorical cross-entropy. The softmax is applied in ``predict`` and ``__call__``,
  so their output is the Keras model's output (probabilities). Keras clips the probabilities to
  [1e-7, 1 - 1e-7] before the log; the logits form does not clip, which only matters once a
  probability is below 1e-7.
* ``padding="same"``: ``padding="same"`` for stride 1 (TensorFlow's split, the same for odd
  kernels). For stride 2, TensorFlow pads the bottom/right more (0 before, 1 after for 28 -> 14
  with a 3x3 kernel) where PyTorch's ``padding=1`` pads 1 on each side and shifts the sampling
  grid by a pixel; so the modern CNN's strided conv is ``nn.ZeroPad2d((0, 1, 0, 1))`` followed
  by a ``padding=0`` conv, the way a port of a Keras model writes it.
* ``BatchNormalization()`` -> ``nn.BatchNorm2d(C, eps=1e-3, momentum=0.01)``: Keras's epsilon
  and its ``momentum=0.99`` (PyTorch's ``momentum`` is the weight of the new batch). One
  difference stays: PyTorch updates ``running_var`` with the unbiased batch variance, Keras with
  the biased one; training steps (which normalise with the biased batch variance on both sides)
  are the same.
* ``Flatten`` of an NCHW map orders the features (C, H, W), Keras's NHWC one (H, W, C): the
  weight transfer permutes the next Dense kernel's rows accordingly (``Peer.set_weights``).

The optimizers come from the Keras model's own optimizer config (``torch_optimizer``):
``SGD(learning_rate)`` -> ``torch.optim.SGD(lr)``; ``RMSprop(learning_rate, rho=0.9,
epsilon=1e-7)`` -> ``torch.optim.RMSprop(lr, alpha=0.9, eps=1e-7)``; ``Adam(learning_rate,
beta_1, beta_2, epsilon=1e-7)`` -> ``torch.optim.Adam(lr, betas, eps=1e-7)``. Two known
differences in where epsilon goes (keras-behaviour.md 5.3, 5.4; ``torch/optim/rmsprop.py``,
``adam.py``), both at the 1e-7 scale and neither changing the work per step:

* RMSprop: Keras divides by ``sqrt(v + eps)``, PyTorch by ``sqrt(v) + eps``.
* Adam: Keras adds eps to the uncorrected ``sqrt(v)`` (bias correction folded into the step
  size), PyTorch to the corrected ``sqrt(v / (1 - beta_2^t))``.

The training loop (``Peer.train_epoch``) is the one in PyTorch's tutorials: batches sliced from
tensors in memory, ``zero_grad``, forward, loss, ``backward``, ``step``, and the running loss
and accuracy of the epoch (``loss.item()``, ``argmax``), which Keras's ``fit`` also computes
every step. It can shuffle each epoch (``torch.randperm``); the benchmark passes
``shuffle=False``, as it does to ``fit``, so all three libraries see the very same batches.

Example:
    >>> NOT_INSTALLED
    "PyTorch: not installed (pip install -e '.[bench]'); its columns are left out"
    >>> [layer for layer, _ in layer_plan("torres")]
    ['Linear', 'Sigmoid', 'Linear']
"""

import time

import numpy as np

from keras_impl.architectures import ARCHITECTURES

NOT_INSTALLED = "PyTorch: not installed (pip install -e '.[bench]'); its columns are left out"
ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid"}


def load(threads):
    """The ``torch`` module set to ``threads`` intra-op threads, or None when it is not installed.

    Raises:
        ValueError: ``threads`` is not a positive int.
    """
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"torch_models.load: threads must be a positive int, got {threads!r}.")
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _same_padding(size, kernel, stride):
    """TensorFlow's 'same' padding of one axis: ``(before, after)``, the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def layer_plan(name, overrides=None):
    """Architecture ``name`` as ``[(torch.nn class name, kwargs), ...]``, without torch.

    Also returns, inside the kwargs of each module with weights, the key ``"_keras"``: how the
    Keras weights of that layer map onto it (``"conv"``, ``"dense"``, ``("flat_dense", (H, W, C))``
    for the first Dense after a Flatten, ``"batch_norm"``).

    Args:
        name: one of ``keras_impl.architectures.ARCHITECTURES``.
        overrides: ``{layer index: {kwarg: value}}`` as for ``keras_impl.architectures.build``.

    Raises:
        ValueError: a layer or option this translation does not cover, named with its index.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}; expected one of {tuple(ARCHITECTURES)}.")
    spec, overrides = ARCHITECTURES[name], overrides or {}
    shape = tuple(spec["input_shape"])  # Keras's (H, W, C) or (D,), without the batch axis
    plan, flattened_from = [], None
    last = len(spec["layers"]) - 1
    for i, (cls_name, kwargs) in enumerate(spec["layers"]):
        kwargs = {**kwargs, **overrides.get(i, {})}
        activation = kwargs.get("activation")
        if cls_name == "Conv2D":
            (kh, kw), (sh, sw) = _pair(kwargs["kernel_size"]), _pair(kwargs.get("strides", 1))
            h, w, c_in = shape
            padding = kwargs.get("padding", "valid")
            conv = dict(in_channels=c_in, out_channels=kwargs["filters"], kernel_size=(kh, kw))
            conv.update(stride=(sh, sw), bias=kwargs.get("use_bias", True), _keras="conv")
            if padding == "valid":
                h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
            elif (sh, sw) == (1, 1):
                conv["padding"] = "same"
            else:
                (top, bottom), (left, right) = _same_padding(h, kh, sh), _same_padding(w, kw, sw)
                plan.append(("ZeroPad2d", dict(padding=(left, right, top, bottom))))
                h, w = -(-h // sh), -(-w // sw)
            plan.append(("Conv2d", conv))
            shape = (h, w, kwargs["filters"])
        elif cls_name == "Dense":
            keras_map = ("flat_dense", flattened_from) if flattened_from else "dense"
            plan.append(("Linear", dict(in_features=shape[-1], out_features=kwargs["units"])))
            plan[-1][1]["_keras"] = keras_map
            flattened_from, shape = None, (kwargs["units"],)
        elif cls_name == "MaxPooling2D":
            pool = _pair(kwargs["pool_size"])
            strides, padding = kwargs.get("strides"), kwargs.get("padding", "valid")
            if strides not in (None, pool) or padding != "valid":
                raise ValueError(f"{name} layer {i}: only MaxPooling2D(pool_size) is translated.")
            plan.append(("MaxPool2d", dict(kernel_size=pool)))
            shape = (shape[0] // pool[0], shape[1] // pool[1], shape[2])
        elif cls_name == "Dropout":
            plan.append(("Dropout", dict(p=kwargs["rate"])))
        elif cls_name == "Flatten":
            plan.append(("Flatten", dict()))
            flattened_from, shape = shape, (int(np.prod(shape)),)
        elif cls_name == "BatchNormalization":
            plan.append(("BatchNorm2d", dict(num_features=shape[-1], eps=1e-3, momentum=0.01)))
            plan[-1][1]["_keras"] = "batch_norm"
        elif cls_name == "GlobalAveragePooling2D":
            plan += [("AdaptiveAvgPool2d", dict(output_size=1)), ("Flatten", dict())]
            shape = (shape[-1],)
        elif cls_name != "Activation":
            raise ValueError(f"{name} layer {i}: no PyTorch translation of {cls_name} yet.")
        if activation == "softmax" and i == last:
            continue  # logits: nn.CrossEntropyLoss applies the log-softmax
        if activation not in (None, "linear") and activation not in ACTIVATIONS:
            raise ValueError(
                f"{name} layer {i}: activation {activation!r} is translated only as the last "
                f"layer's softmax, or one of {sorted(ACTIVATIONS)}."
            )
        if activation in ACTIVATIONS:
            plan.append((ACTIVATIONS[activation], dict()))
    if spec["layers"][last][1].get("activation") != "softmax":
        raise ValueError(f"{name}: the last layer must be a softmax Dense (the loss takes logits).")
    return plan


def build(name, torch, overrides=None):
    """Architecture ``name`` as a ``torch.nn.Sequential`` returning logits, and its weight map.

    Returns:
        ``(net, keras_map)``: ``keras_map`` lists ``(module, how)`` in Keras's layer order.
    """
    modules, keras_map = [], []
    for cls_name, kwargs in layer_plan(name, overrides):
        kwargs = dict(kwargs)
        how = kwargs.pop("_keras", None)
        module = getattr(torch.nn, cls_name)(**kwargs)
        modules.append(module)
        if how is not None:
            keras_map.append((module, how))
    return torch.nn.Sequential(*modules), keras_map


def torch_optimizer(torch, keras_optimizer, params):
    """The ``torch.optim`` optimizer with the hyper-parameters of a Keras(-API) optimizer.

    Raises:
        ValueError: an optimizer or option without a translation here.
    """
    kind, cfg = type(keras_optimizer).__name__, keras_optimizer.get_config()
    lr = float(cfg["learning_rate"])
    options = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm")
    unsupported = [k for k in options if cfg[k]]
    if unsupported or cfg["use_ema"]:
        raise ValueError(f"torch_optimizer: {kind} options {unsupported or ['use_ema']} are not "
                         "translated; compile the Keras model without them.")  # fmt: skip
    if kind == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"])
    if kind == "RMSprop":
        return torch.optim.RMSprop(
            params, lr=lr, alpha=cfg["rho"], eps=cfg["epsilon"], momentum=cfg["momentum"],
            centered=cfg["centered"],
        )  # fmt: skip
    if kind == "Adam":
        return torch.optim.Adam(
            params, lr=lr, betas=(cfg["beta_1"], cfg["beta_2"]), eps=cfg["epsilon"],
            amsgrad=cfg["amsgrad"],
        )  # fmt: skip
    raise ValueError(f"torch_optimizer: no translation of {kind}; expected SGD, RMSprop or Adam.")


def to_tensor(torch, x):
    """NHWC float32 images ``(N, H, W, C)`` -> a contiguous NCHW tensor ``(N, C, H, W)``;
    flat inputs ``(N, D)`` stay as they are."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)  # (N, C, H, W)
    return torch.from_numpy(np.ascontiguousarray(x))


def to_labels(torch, y):
    """One-hot labels ``(N, classes)`` -> int64 class indices ``(N,)`` for CrossEntropyLoss."""
    return torch.from_numpy(np.asarray(y).argmax(axis=1).astype(np.int64))


def _to_torch_layout(how, arrays):
    """Keras arrays of one layer -> PyTorch arrays, in the module's parameter order."""
    if how == "conv":
        return [arrays[0].transpose(3, 2, 0, 1), *arrays[1:]]  # (C_out, C_in, KH, KW)
    if how == "dense":
        return [arrays[0].T, *arrays[1:]]  # (D_out, D_in)
    if how == "batch_norm":
        return arrays  # gamma, beta, moving mean, moving variance
    (h, w, c), kernel = how[1], arrays[0]  # flat_dense: Keras rows ordered (H, W, C)
    d_out = kernel.shape[1]
    kernel = kernel.reshape(h, w, c, d_out).transpose(2, 0, 1, 3).reshape(-1, d_out)
    return [kernel.T, *arrays[1:]]  # (D_out, C*H*W), columns ordered (C, H, W)


def _to_keras_layout(how, arrays):
    """The inverse of ``_to_torch_layout``."""
    if how == "conv":
        return [arrays[0].transpose(2, 3, 1, 0), *arrays[1:]]  # (KH, KW, C_in, C_out)
    if how == "dense":
        return [arrays[0].T, *arrays[1:]]
    if how == "batch_norm":
        return arrays
    (h, w, c), kernel = how[1], arrays[0].T  # (C*H*W, D_out)
    d_out = kernel.shape[1]
    return [kernel.reshape(c, h, w, d_out).transpose(1, 2, 0, 3).reshape(-1, d_out), *arrays[1:]]


def _tensors(module, how):
    """The module's tensors in Keras's weight order (BatchNorm2d: its running statistics too)."""
    tensors = [module.weight] + ([module.bias] if module.bias is not None else [])
    if how == "batch_norm":
        tensors += [module.running_mean, module.running_var]
    return tensors


class Peer:
    """A PyTorch model with its optimizer and loss, trained and called like the Keras model.

    ``predict(x, batch_size, verbose)`` and ``model(x, training=False)`` take the arguments the
    benchmark passes to Keras (``x`` an NCHW tensor from ``to_tensor``) and return NumPy
    probabilities; ``train_epoch`` is the training loop.

    Args:
        torch: the module from ``load``.
        name: the architecture.
        weights: Keras-layout weights (``model.get_weights()`` of scratchnet or Keras).
        optimizer: the Keras(-API) optimizer whose hyper-parameters to use (``torch_optimizer``).
        overrides: as for ``keras_impl.architectures.build``.
        seed: seeds the shuffling of ``train_epoch(shuffle=True)`` and dropout's masks.
    """

    def __init__(self, torch, name, weights, optimizer, overrides=None, seed=0):
        self.torch, self.name = torch, name
        torch.manual_seed(seed)
        self.net, self._keras_map = build(name, torch, overrides)
        self.set_weights(weights)
        self.optimizer = torch_optimizer(torch, optimizer, self.net.parameters())
        self.loss = torch.nn.CrossEntropyLoss()
        self.shuffle_generator = torch.Generator().manual_seed(seed)
        self.last_epoch = None  # {"loss", "accuracy"} of the latest train_epoch

    def set_weights(self, weights):
        """Copy Keras-layout arrays into the modules (conv and Flatten->Dense kernels permuted)."""
        weights = list(weights)
        with self.torch.no_grad():
            for module, how in self._keras_map:
                tensors = _tensors(module, how)
                arrays, weights = weights[: len(tensors)], weights[len(tensors) :]
                for tensor, array in zip(tensors, _to_torch_layout(how, arrays), strict=True):
                    if tuple(tensor.shape) != array.shape:
                        raise ValueError(f"Peer.set_weights ({self.name}): {module} expects "
                                         f"{tuple(tensor.shape)}, got {array.shape}.")  # fmt: skip
                    tensor.copy_(self.torch.from_numpy(np.ascontiguousarray(array)))
        if weights:
            raise ValueError(f"Peer.set_weights ({self.name}): {len(weights)} arrays too many.")

    def get_weights(self):
        """The weights as Keras-layout NumPy arrays, in Keras's order."""
        out = []
        for module, how in self._keras_map:
            arrays = [t.detach().numpy().copy() for t in _tensors(module, how)]
            out += [np.ascontiguousarray(a) for a in _to_keras_layout(how, arrays)]
        return out

    def count_params(self):
        """``(all, trainable)``: parameters plus BatchNorm's running statistics, as Keras counts."""
        trainable = sum(p.numel() for p in self.net.parameters())
        stats = sum(b.numel() for b in self.net.buffers() if b.is_floating_point())
        return trainable + stats, trainable

    def train_epoch(self, x, y, batch_size, shuffle=False):
        """One epoch of the plain PyTorch training loop; returns its wall seconds.

        Args:
            x: inputs, ``(N, C, H, W)`` or ``(N, D)`` float32 tensor (``to_tensor``).
            y: ``(N,)`` int64 class labels (``to_labels``).
            batch_size: images per step; the last batch may be smaller.
            shuffle: a new order every epoch (``torch.randperm``), drawn before the clock starts.
        """
        torch, n = self.torch, len(x)
        self.net.train()
        order = torch.randperm(n, generator=self.shuffle_generator) if shuffle else None
        total_loss, correct = 0.0, 0
        start = time.perf_counter()
        for i in range(0, n, batch_size):
            if order is None:
                xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            else:
                xb, yb = x[order[i : i + batch_size]], y[order[i : i + batch_size]]
            self.optimizer.zero_grad()
            logits = self.net(xb)  # (B, classes)
            loss = self.loss(logits, yb)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.item() * len(yb)
            correct += (logits.argmax(dim=1) == yb).sum().item()
        seconds = time.perf_counter() - start
        self.last_epoch = {"loss": total_loss / n, "accuracy": correct / n}
        return seconds

    def predict(self, x, batch_size=32, verbose=0):
        """Softmax probabilities ``(N, classes)`` as NumPy, in batches, in inference mode."""
        torch = self.torch
        self.net.eval()
        with torch.inference_mode():
            parts = [
                torch.softmax(self.net(x[i : i + batch_size]), dim=1)
                for i in range(0, len(x), batch_size)
            ]
            return torch.cat(parts).numpy()

    def __call__(self, x, training=False):
        """The direct call ``softmax(net(x))`` in inference mode, as NumPy."""
        if training:
            raise ValueError("Peer(x, training=True): train through train_epoch instead.")
        self.net.eval()
        with self.torch.inference_mode():
            return self.torch.softmax(self.net(x), dim=1).numpy()


FORWARD_ATOL = 1e-5  # probabilities; float32 sums of up to 3,136 products in another order
STEP_RTOL = 1e-3  # one SGD step's weight change, relative to the largest change of that tensor


def check_same_model(torch, scratchnet, name, x, y):
    """Prove the PyTorch model computes scratchnet's model (which the parity tests prove to be
    Keras's): same parameter counts, same forward output, same first SGD step, from the same
    initial weights transposed to PyTorch's layouts.

    Dropout is set to rate 0 for the step (its masks are random on each side); the step uses
    ``SGD(0.1)`` on both sides, whose update ``w - lr * g`` has no epsilon to differ in, so the
    step compares the gradients of the loss, the Flatten permutation and BatchNorm's training
    mode included.

    Args:
        x: ``(N, ...)`` float32 NHWC (or flat) inputs, as the Keras model takes them.
        y: ``(N, classes)`` one-hot labels.

    Returns:
        ``{"params": (all, trainable), "forward_max_abs_diff": float, "step_max_rel_diff": float}``.

    Raises:
        AssertionError: a count differs, or a difference is over ``FORWARD_ATOL`` / ``STEP_RTOL``;
            the message names the model, the tensor and the worst index.
    """
    from keras_impl.architectures import build as build_keras_api

    no_dropout = {
        i: {"rate": 0.0}
        for i, (cls_name, _) in enumerate(ARCHITECTURES[name]["layers"])
        if cls_name == "Dropout"
    }
    ref = build_keras_api(name, scratchnet, overrides=no_dropout)
    ref.compile(optimizer=scratchnet.optimizers.SGD(learning_rate=0.1),
                loss="categorical_crossentropy")  # fmt: skip
    peer = Peer(torch, name, ref.get_weights(), ref.optimizer, overrides=no_dropout)
    trainable = sum(int(np.prod(w.shape)) for w in ref.trainable_weights)
    counts = (ref.count_params(), trainable)
    if peer.count_params() != counts:
        raise AssertionError(f"{name}: PyTorch has (all, trainable) = {peer.count_params()} "
                             f"parameters, scratchnet/Keras {counts}.")  # fmt: skip
    xt = to_tensor(torch, x)
    mine, theirs = peer.predict(xt, batch_size=len(x)), ref.predict(x, verbose=0)
    forward = _worst(mine, theirs)
    if forward[0] > FORWARD_ATOL:
        raise AssertionError(f"{name}: PyTorch's predict differs from scratchnet's by "
                             f"{forward[0]:.3g} at {forward[1]} (> {FORWARD_ATOL}).")  # fmt: skip
    before = ref.get_weights()
    ref.train_on_batch(x, y)
    peer.train_epoch(xt, to_labels(torch, y), batch_size=len(x))
    step = 0.0
    for i, (w0, mine, theirs) in enumerate(zip(before, peer.get_weights(), ref.get_weights())):
        scale = np.abs(theirs - w0).max()
        if scale == 0:
            continue  # BatchNorm's moving statistics under SGD: not trained by the gradient
        diff, where = _worst(mine - w0, theirs - w0)
        step = max(step, diff / scale)
        if diff / scale > STEP_RTOL:
            raise AssertionError(
                f"{name}: after one SGD step, scratchnet's weight {i} {theirs.shape} (Keras's "
                f"layout) changed otherwise in PyTorch: {diff:.3g} at {where}, "
                f"{diff / scale:.3g} of the largest change (> {STEP_RTOL})."
            )
    return {"params": counts, "forward_max_abs_diff": forward[0], "step_max_rel_diff": step}


def _worst(a, b):
    """``(max |a - b|, its index)``."""
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    where = np.unravel_index(int(diff.argmax()), diff.shape)
    return float(diff[where]), tuple(int(i) for i in where)
