"""What is benchmarked: the five tutorials and a modern CNN; data, batch sizes, optimizers, FLOPs.

Each tutorial is trained the way its author trains it: the same pixel scaling, batch size,
optimizer and loss (``categorical_crossentropy`` with ``accuracy``). The pixels are prepared once,
as float32, and the very same arrays are handed to scratchnet and to Keras.

"modern" is not a tutorial but the small CNN a learner writes from Keras's guides today
(``keras_impl.architectures``: Conv2D without bias, BatchNormalization and ReLU twice, the second
conv strided, GlobalAveragePooling2D, Dense softmax), on [0, 1] pixels with Adam at batch 128,
the keras.io convnet's recipe.

Example:
    >>> import scratchnet
    >>> model = build_compiled("torres", scratchnet)
    >>> flops_per_image("torres")["train"]
    31960
"""

import os
from dataclasses import dataclass

import numpy as np

from keras_impl.architectures import ARCHITECTURES, build

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hides start-up chatter only


@dataclass(frozen=True)
class Tutorial:
    """One tutorial's training recipe.

    Args:
        batch_size: the tutorial's batch size.
        optimizer: ``lib -> optimizer`` (or None: compile without one, i.e. RMSprop, as zhou does).
        prepare: ``(N, 28, 28) uint8 -> float32`` input array of the model's input shape.
    """

    batch_size: int
    optimizer: object
    prepare: object


def _unit(x):
    return (x.astype(np.float32) / np.float32(255))[..., None]  # (N, 28, 28, 1) in [0, 1]


TUTORIALS = {
    "seminar": Tutorial(32, lambda lib: lib.optimizers.SGD(learning_rate=0.01), _unit),
    "zhou": Tutorial(32, None, lambda x: _unit(x) - np.float32(0.5)),  # centred, [-0.5, 0.5]
    "hanoi": Tutorial(64, lambda lib: "adam", lambda x: x.astype(np.float32)[..., None]),  # 0-255
    "torres": Tutorial(100, lambda lib: "sgd", lambda x: _unit(x).reshape(len(x), 784)),
    "convnet": Tutorial(128, lambda lib: "adam", _unit),
    "modern": Tutorial(128, lambda lib: "adam", _unit),  # not a tutorial: see the docstring
}
NAMES = tuple(TUTORIALS)
TUTORIAL_NAMES = NAMES[:5]  # the five tutorials (an older checkout has only these)


def load_mnist():
    """MNIST: uint8 pixels, one-hot float32 labels: ``(x_train, y_train), (x_test, y_test)``."""
    import scratchnet

    (x_train, y_train), (x_test, y_test) = scratchnet.datasets.mnist.load_data()
    eye = np.eye(10, dtype=np.float32)
    return (x_train, eye[y_train]), (x_test, eye[y_test])  # labels (N, 10)


def prepare(name, x):
    """Tutorial ``name``'s input array for the uint8 images ``x`` (N, 28, 28), as float32."""
    return np.ascontiguousarray(TUTORIALS[name].prepare(x), dtype=np.float32)


def build_compiled(name, lib):
    """Tutorial ``name`` built on ``lib`` (scratchnet or keras) and compiled as the tutorial does.

    Keras is compiled with its defaults (``jit_compile="auto"``, which means no XLA on a CPU-only
    machine), as a user would.
    """
    model = build(name, lib)
    make_optimizer = TUTORIALS[name].optimizer
    kwargs = {} if make_optimizer is None else {"optimizer": make_optimizer(lib)}
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"], **kwargs)
    return model


def flops_per_image(name):
    """Analytic floating-point operations per image for architecture ``name``.

    Only the matrix products are counted (a multiply-add is 2 FLOPs); bias, activations, pooling,
    dropout, batch normalization and the loss are elementwise and left out.

    Math:
        Conv2D forward:  2 * H_out * W_out * KH * KW * C_in * C_out
                         (H_out = ceil(H / s) for 'same', (H - KH) // s + 1 for 'valid')
        Dense forward:   2 * D_in * D_out
        backward of either: the same product twice, once for dL/dkernel and once for dL/dx,
        except that the first layer needs no dL/dx (nothing upstream has weights).
        train = forward + backward; infer = forward.

    Returns:
        ``{"forward": int, "train": int}``.
    """
    spec = ARCHITECTURES[name]
    shape = spec["input_shape"]  # without the batch axis
    forward = backward = 0
    first = True
    for cls_name, kwargs in spec["layers"]:
        if cls_name == "Conv2D":
            kh, kw = _pair(kwargs["kernel_size"])
            sh, sw = _pair(kwargs.get("strides", 1))
            h, w, c_in = shape
            if kwargs.get("padding", "valid") == "valid":
                h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
            else:
                h, w = -(-h // sh), -(-w // sw)
            c_out = kwargs["filters"]
            layer = 2 * h * w * kh * kw * c_in * c_out
            shape = (h, w, c_out)
        elif cls_name == "Dense":
            d_in, d_out = shape[-1], kwargs["units"]
            layer = 2 * d_in * d_out
            shape = (*shape[:-1], d_out)
        else:
            layer = 0
            if cls_name == "MaxPooling2D":
                ph, pw = _pair(kwargs["pool_size"])
                shape = (shape[0] // ph, shape[1] // pw, shape[2])
            elif cls_name == "Flatten":
                shape = (int(np.prod(shape)),)
            elif cls_name == "GlobalAveragePooling2D":
                shape = (shape[-1],)
        if layer:
            forward += layer
            backward += layer if first else 2 * layer
            first = False
    return {"forward": forward, "train": forward + backward}


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)
