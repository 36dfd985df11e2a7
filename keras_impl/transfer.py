"""Copy weights between a scratchnet model and a Keras model, in either direction.

Both libraries store the same arrays in the same layouts (Conv2D kernel ``(KH, KW, C_in, C_out)``,
Dense kernel ``(D_in, D_out)``, bias ``(units,)``), so a transfer is ``set_weights(get_weights())``
layer by layer. This module adds the checks that turn a silent mismatch into a sentence: the two
models must have the same layers with weights, in the same order, of the same classes, and every
array must have the same shape. Values are cast to the destination's dtype.

Nothing here imports Keras or TensorFlow: it only uses ``.layers``, ``get_weights`` and
``set_weights``, which both libraries have.

Example:
    >>> from keras_impl.architectures import build
    >>> import scratchnet
    >>> a, b = build("torres", scratchnet), build("torres", scratchnet)
    >>> copy_weights(a, b)
    >>> all((x == y).all() for x, y in zip(a.get_weights(), b.get_weights()))
    True
"""

import numpy as np


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.get_weights()]


def _describe(model):
    return f"{type(model).__module__.split('.')[0]} model '{getattr(model, 'name', '?')}'"


def copy_weights(src, dst):
    """Copy every weight of model ``src`` into model ``dst`` (scratchnet <-> Keras, any direction).

    Args:
        src: a built model (scratchnet or Keras) to read weights from.
        dst: a built model with the same architecture to write them into.

    Raises:
        ValueError: the models differ in their weighted layers or in a weight's shape; the message
            names the layer and both shapes.
    """
    src_layers, dst_layers = _weighted_layers(src), _weighted_layers(dst)
    if len(src_layers) != len(dst_layers):
        raise ValueError(
            f"copy_weights: {_describe(src)} has {len(src_layers)} layers with weights "
            f"({[lay.name for lay in src_layers]}) but {_describe(dst)} has {len(dst_layers)} "
            f"({[lay.name for lay in dst_layers]}). Build both from keras_impl.architectures."
        )
    for i, (s, d) in enumerate(zip(src_layers, dst_layers, strict=True)):
        if type(s).__name__ != type(d).__name__:
            raise ValueError(
                f"copy_weights: weighted layer #{i} is a {type(s).__name__} ('{s.name}') in the "
                f"source but a {type(d).__name__} ('{d.name}') in the destination."
            )
        copy_layer_weights(s, d)


def copy_layer_weights(src, dst):
    """Copy the weights of one layer into another of the same class and shape (either library).

    Raises:
        ValueError: different number of weight arrays, or an array of a different shape.
    """
    new, old = src.get_weights(), dst.get_weights()
    if len(new) != len(old):
        raise ValueError(
            f"copy_weights: layer '{src.name}' ({type(src).__name__}) has {len(new)} weight "
            f"array(s) but '{dst.name}' has {len(old)}. Is use_bias the same on both sides?"
        )
    names = ["kernel", "bias"] if len(new) == 2 else [f"weight {j}" for j in range(len(new))]
    for name, n, o in zip(names, new, old, strict=True):
        if n.shape != o.shape:
            hint = ""
            if sorted(n.shape) == sorted(o.shape):
                hint = " The shapes are a permutation of each other: a layout is transposed."
            raise ValueError(
                f"copy_weights: {name} of layer '{src.name}' ({type(src).__name__}) has shape "
                f"{n.shape} but the destination '{dst.name}' expects {o.shape}.{hint}"
            )
    dst.set_weights([np.asarray(n, dtype=o.dtype) for n, o in zip(new, old, strict=True)])
