"""The five tutorial architectures and the benchmark's modern CNN, built on either library.

scratchnet mirrors Keras's API, so one description serves both sides: each architecture is a list
of ``(layer class name, keyword arguments)`` and ``build(name, lib)`` instantiates it from
``lib.layers`` where ``lib`` is ``scratchnet`` or ``keras``. The examples, the parity tests and the
benchmark all build their models here, so the two implementations cannot drift apart.

This module imports neither library; pass the one you want.

Example:
    >>> import scratchnet
    >>> model = build("convnet", scratchnet)
    >>> model.count_params()
    34826
"""

MNIST_IMAGE = (28, 28, 1)
MNIST_FLAT = (784,)

ARCHITECTURES = {
    # "Seminar" CNN: two same-padded conv blocks, dropout, a dense head. 421,642 parameters.
    "seminar": {
        "input_shape": MNIST_IMAGE,
        "layers": [
            ("Conv2D", dict(filters=32, kernel_size=(3, 3), activation="relu", padding="same")),
            ("MaxPooling2D", dict(pool_size=(2, 2))),
            ("Conv2D", dict(filters=64, kernel_size=(3, 3), activation="relu", padding="same")),
            ("MaxPooling2D", dict(pool_size=(2, 2))),
            ("Dropout", dict(rate=0.25)),
            ("Flatten", dict()),
            ("Dense", dict(units=128, activation="relu")),
            ("Dropout", dict(rate=0.5)),
            ("Dense", dict(units=10, activation="softmax")),
        ],
    },
    # Victor Zhou's CNN: tiny convs with no activation.
    "zhou": {
        "input_shape": MNIST_IMAGE,
        "layers": [
            ("Conv2D", dict(filters=8, kernel_size=3)),
            ("MaxPooling2D", dict(pool_size=2)),
            ("Conv2D", dict(filters=8, kernel_size=3)),
            ("MaxPooling2D", dict(pool_size=2)),
            ("Flatten", dict()),
            ("Dense", dict(units=10, activation="softmax")),
        ],
    },
    # The Hanoi course CNN: sigmoid everywhere, trained on raw 0-255 pixels.
    "hanoi": {
        "input_shape": MNIST_IMAGE,
        "layers": [
            ("Conv2D", dict(filters=32, kernel_size=(3, 3), activation="sigmoid")),
            ("Conv2D", dict(filters=32, kernel_size=(3, 3), activation="sigmoid")),
            ("MaxPooling2D", dict(pool_size=(2, 2))),
            ("Flatten", dict()),
            ("Dense", dict(units=128, activation="sigmoid")),
            ("Dense", dict(units=10, activation="softmax")),
        ],
    },
    # Jordi Torres's first network: a two-layer perceptron on flattened pixels.
    "torres": {
        "input_shape": MNIST_FLAT,
        "layers": [
            ("Dense", dict(units=10, activation="sigmoid")),
            ("Dense", dict(units=10, activation="softmax")),
        ],
    },
    # The keras.io "Simple MNIST convnet". 34,826 parameters.
    "convnet": {
        "input_shape": MNIST_IMAGE,
        "layers": [
            ("Conv2D", dict(filters=32, kernel_size=(3, 3), activation="relu")),
            ("MaxPooling2D", dict(pool_size=(2, 2))),
            ("Conv2D", dict(filters=64, kernel_size=(3, 3), activation="relu")),
            ("MaxPooling2D", dict(pool_size=(2, 2))),
            ("Flatten", dict()),
            ("Dropout", dict(rate=0.5)),
            ("Dense", dict(units=10, activation="softmax")),
        ],
    },
    # Not a tutorial: the small CNN a learner writes today from Keras's guides (the keras.io
    # "Image classification from scratch" blocks: Conv2D without bias, BatchNormalization, then
    # Activation("relu"); a strided conv instead of pooling; GlobalAveragePooling2D instead of
    # Flatten). The benchmark's "modern" row; trained with Adam at batch 128. 19,754 parameters.
    "modern": {
        "input_shape": MNIST_IMAGE,
        "layers": [
            ("Conv2D", dict(filters=32, kernel_size=3, padding="same", use_bias=False)),
            ("BatchNormalization", dict()),
            ("Activation", dict(activation="relu")),
            ("Conv2D", dict(filters=64, kernel_size=3, strides=2, padding="same", use_bias=False)),
            ("BatchNormalization", dict()),
            ("Activation", dict(activation="relu")),
            ("GlobalAveragePooling2D", dict()),
            ("Dense", dict(units=10, activation="softmax")),
        ],
    },
}

TUTORIALS = ("seminar", "zhou", "hanoi", "torres", "convnet")  # the five tutorials
NAMES = TUTORIALS  # what the examples, parity tests and A/B runs iterate over


def build(name, lib, overrides=None):
    """Build architecture ``name`` as a ``lib.models.Sequential`` (``lib`` is scratchnet or keras).

    Args:
        name: one of ``NAMES``.
        lib: the module ``scratchnet`` or ``keras``.
        overrides: optional ``{layer index: {kwarg: value}}``, e.g. ``{4: {"seed": 7}}`` to give a
            Dropout a fixed seed on both sides.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}; expected one of {NAMES}.")
    spec = ARCHITECTURES[name]
    overrides = overrides or {}
    layers = [lib.Input(shape=spec["input_shape"])]
    for i, (cls_name, kwargs) in enumerate(spec["layers"]):
        layers.append(getattr(lib.layers, cls_name)(**{**kwargs, **overrides.get(i, {})}))
    return lib.models.Sequential(layers)
