"""``scratchnet.ops``: Keras 3's ``keras.ops``, the NumPy-like math for writing your own layers.

A Keras program's ``from keras import ops`` becomes ``from scratchnet import ops``. The ops arrive
with the custom-layers work (each with its backward rule under its forward rule, recorded on the
tape); until an op exists here, asking for it raises an AttributeError that lists what does.

(The kernels behind the built-in layers are internal: ``scratchnet.kernels``.)
"""

__all__ = []


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    available = ", ".join(__all__) or "none yet"
    raise AttributeError(
        f"scratchnet.ops has no op {name!r} (Keras's keras.ops.{name}). The ops scratchnet has: "
        f"{available}. The built-in layers' kernels are internal, in scratchnet.kernels."
    )
