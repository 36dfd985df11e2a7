"""``scratchnet.ops``: Keras 3's ``keras.ops``, the NumPy-like math for writing your own layers.

A Keras program's ``from keras import ops`` becomes ``from scratchnet import ops``. Every op
takes tensors, NumPy arrays or Python numbers and returns a ``Tensor``
(``scratchnet.ops.core``), computed with NumPy; inside a layer's ``call`` during training it
also records its backward rule, written right under its forward rule, so backprop can go back
through it (reverse-mode autodiff, ``core.gradients``).

Reading order: ``core`` (the Tensor and the engine), ``dtypes`` (Keras's type promotion), then
one family per file: ``creation``, ``arithmetic``, ``reductions``, ``shapes``, ``linalg``,
``logic`` and ``nn`` (also at the top level here, as in Keras: ``ops.relu``, ``ops.nn.relu``).

Asking for an op scratchnet does not have raises an AttributeError that lists what exists.

(The kernels behind the built-in layers are internal: ``scratchnet.kernels``.)
"""

from . import arithmetic, core, creation, dtypes, linalg, logic, nn, reductions, shapes
from .arithmetic import *  # noqa: F403
from .core import Tensor, Variable, cast, convert_to_tensor  # noqa: F401  (in __all__)
from .creation import *  # noqa: F403
from .linalg import *  # noqa: F403
from .logic import *  # noqa: F403
from .nn import *  # noqa: F403
from .reductions import *  # noqa: F403
from .shapes import *  # noqa: F403

__all__ = sorted(
    {"Tensor", "Variable", "cast", "convert_to_tensor", "nn"}
    | set(arithmetic.__all__)
    | set(creation.__all__)
    | set(linalg.__all__)
    | set(logic.__all__)
    | set(nn.__all__)
    | set(reductions.__all__)
    | set(shapes.__all__)
)
del core, dtypes  # reachable as scratchnet.ops.core and .dtypes, but not ops themselves


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"scratchnet.ops has no op {name!r} (Keras's keras.ops.{name}). The ops scratchnet has: "
        f"{', '.join(__all__)}. The built-in layers' kernels are internal, in scratchnet.kernels."
    )
