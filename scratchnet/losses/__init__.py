"""Losses, with Keras's values and gradients.

Each loss is a class (``CategoricalCrossentropy()``) and a per-sample function
(``categorical_crossentropy(y_true, y_pred)``); ``compile(loss=...)`` takes either, or a name as
Keras resolves it (``"mae"``, ``"huber"``, ``"Huber"``, ...: ``get``).

Where to read what:

* ``base.py``: the ``Loss`` class, Keras's reductions and sample weights, the shape rule;
* ``crossentropy.py``: the cross-entropies, their fused softmax/sigmoid path and label
  smoothing, the focal losses; ``fused.py``: how ``Model.fit`` pairs them with the output layer;
* ``regression.py``: squared, absolute, percentage, logarithmic, Huber, log-cosh, cosine;
* ``probabilistic.py``: KL divergence, Poisson, the hinges.

A built-in loss's gradient is written by hand next to its value (``values`` / ``backward``);
the focal losses and your own (``call`` with ``scratchnet.ops``) go through autodiff.

Example:
    >>> import numpy as np
    >>> loss = CategoricalCrossentropy()
    >>> round(float(loss(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]))), 4)
    0.6931
    >>> float(get("mae")(np.array([1.0, 2.0]), np.array([[1.5], [2.0]])))
    0.25
"""

from .base import REDUCTIONS, Loss, LossFunctionWrapper, reduce_weighted, same_rank
from .crossentropy import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    sparse_categorical_crossentropy,
)
from .fused import ActivationWithLoss
from .probabilistic import CategoricalHinge, Hinge, KLDivergence, Poisson, SquaredHinge
from .regression import (
    CosineSimilarity,
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
)

__all__ = [
    "REDUCTIONS", "ActivationWithLoss", "Loss", "LossFunctionWrapper", "reduce_weighted",
    "same_rank", "get",
]  # fmt: skip


def _per_sample(cls, name, doc):
    """Keras's loss function ``name``: one value per sample, with the class's default options."""

    def fn(y_true, y_pred):
        loss = cls()
        return loss.values(*loss.check(y_true, y_pred))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


mean_squared_error = _per_sample(MeanSquaredError, "mean_squared_error", "mean_d (y - p)^2")
mean_absolute_error = _per_sample(MeanAbsoluteError, "mean_absolute_error", "mean_d |y - p|")
mean_absolute_percentage_error = _per_sample(
    MeanAbsolutePercentageError, "mean_absolute_percentage_error", "100 mean_d |y - p| / |y|"
)
mean_squared_logarithmic_error = _per_sample(
    MeanSquaredLogarithmicError, "mean_squared_logarithmic_error", "mean_d (log(p+1) - log(y+1))^2"
)
huber = _per_sample(Huber, "huber", "mean_d Huber(p - y), delta 1")
log_cosh = _per_sample(LogCosh, "log_cosh", "mean_d log cosh(p - y)")
cosine_similarity = _per_sample(
    CosineSimilarity, "cosine_similarity", "-cos(y, p) over the last axis"
)
kl_divergence = _per_sample(KLDivergence, "kl_divergence", "sum_d y log(y / p), both clipped")
poisson = _per_sample(Poisson, "poisson", "mean_d p - y log(p + eps)")
hinge = _per_sample(Hinge, "hinge", "mean_d max(1 - y p, 0)")
squared_hinge = _per_sample(SquaredHinge, "squared_hinge", "mean_d max(1 - y p, 0)^2")
categorical_hinge = _per_sample(CategoricalHinge, "categorical_hinge", "max(neg - pos + 1, 0)")

_CLASSES = (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
    BinaryFocalCrossentropy, CategoricalFocalCrossentropy, MeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Huber, LogCosh, CosineSimilarity,
    KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge,
)  # fmt: skip
# Keras's loss functions, each computed by the class of the same loss with its defaults.
FUNCTIONS = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    huber: Huber,
    log_cosh: LogCosh,
    cosine_similarity: CosineSimilarity,
    kl_divergence: KLDivergence,
    poisson: Poisson,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge,
}
FUNCTION_NAMES = tuple(fn.__name__ for fn in FUNCTIONS)
# Keras's ``losses.get`` names (measured on 3.15): class names, function names, and these
# aliases. "logcosh", "huber_loss" and "kullback_leibler_divergence" are not among them.
_ALIASES = {
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "kld": kl_divergence, "KLD": kl_divergence,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
}  # fmt: skip
_BY_NAME = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{fn.__name__: fn for fn in FUNCTIONS},
    **_ALIASES,
}
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence


def get(identifier):
    """The loss for a name (as Keras's ``losses.get``), a class, a function, or a Loss object.

    A loss function (or its name) becomes its class with the defaults (the same numbers, and
    the gradient written by hand); your own function is wrapped in ``LossFunctionWrapper``.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        found = _BY_NAME.get(identifier)
        if found is None:
            raise ValueError(
                f"Unknown loss {identifier!r}. Expected one of {sorted(_BY_NAME)}, a loss class "
                "such as scratchnet.losses.Huber(delta=2.0), or a function."
            )
        identifier = found
        if isinstance(found, type):
            return found()
    if callable(identifier) and identifier in FUNCTIONS:
        return FUNCTIONS[identifier]()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(
        f"Unknown loss {identifier!r}: give a name such as 'mse', a loss class or object, or a "
        "function fn(y_true, y_pred)."
    )
