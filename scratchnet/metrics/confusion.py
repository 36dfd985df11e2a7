"""Metrics from confusion counts: Precision, Recall, AUC, F1Score, as Keras 3.15 counts them.

The counts at a threshold t (Keras's ``update_confusion_matrix_variables``): an entry is
predicted positive when p > t, it is a positive when its label is not 0; each (weighted by its
sample weight) adds to one of true/false positives/negatives. Keras takes one of two roads:

* thresholds spread evenly over [0, 1] (AUC's 200, or any evenly spaced list of 3 or more):
  every p falls in bucket ``ceil(p (T - 1)) - 1`` (clipped at 0 when the thresholds reach just
  past 0 and 1, AUC's -eps and 1 + eps); the counts above threshold i are the sums of buckets
  i, i + 1, ... (a reversed cumulative sum): O(N + T) instead of O(N T);
* any other thresholds (Precision's and Recall's default 0.5): compare each p with each t.
"""

import numpy as np

from .. import config
from ..losses.base import same_rank
from .base import Metric, _add, as_array


def _evenly_spread(thresholds):
    """Keras's ``is_evenly_distributed_thresholds``: 3 or more, i / (T - 1) within eps."""
    t = len(thresholds)
    even = np.arange(t, dtype=np.float32) / (t - 1) if t >= 3 else None
    return t >= 3 and np.allclose(thresholds, even, atol=config.epsilon())


def _prepare(y_true, y_pred, sample_weight, dtype, top_k=None, class_id=None):
    """Labels, predictions and weights as Keras brings them to the same shape."""
    y_true = as_array(y_true).astype(dtype)
    y_pred = as_array(y_pred).astype(dtype)
    y_pred, y_true = same_rank(y_pred, y_true)
    if sample_weight is not None:
        weights = as_array(sample_weight).astype(dtype)[..., None]
        _, sample_weight = same_rank(y_true, weights, expand_rank_1=False)
    if top_k is not None:  # all but the k highest scores of each row can never be positive
        order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :top_k]
        keep = np.zeros(y_pred.shape, bool)
        np.put_along_axis(keep, order, True, axis=-1)
        y_pred = np.where(keep, y_pred, -np.inf)
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weights = (
        np.ones_like(y_pred)
        if sample_weight is None
        else np.broadcast_to(sample_weight, y_pred.shape)
    )
    return y_true != 0, y_pred, weights.astype(dtype)


def confusion_counts(y_true, y_pred, weights, thresholds, evenly, with_epsilon):
    """(tp, fp, tn, fn), each of shape (T,): weighted counts at each threshold."""
    positive, p, w = y_true.reshape(-1), y_pred.reshape(-1), weights.reshape(-1)
    dtype = p.dtype
    t = len(thresholds)
    if evenly:
        p = np.clip(p, 0, 1)
        bucket = np.ceil(p * dtype.type(t - 1)) - 1  # (N,)
        if with_epsilon:
            bucket = np.maximum(bucket, 0)
        bucket = bucket.astype(np.int64)
        kept = bucket >= 0  # TensorFlow's segment sum drops negative segment ids
        tp_bucket = np.zeros(t, dtype)
        fp_bucket = np.zeros(t, dtype)
        np.add.at(tp_bucket, bucket[kept], (positive * w)[kept])
        np.add.at(fp_bucket, bucket[kept], (~positive * w)[kept])
        tp = np.cumsum(tp_bucket[::-1], dtype=dtype)[::-1]
        fp = np.cumsum(fp_bucket[::-1], dtype=dtype)[::-1]
    else:
        above = p[None, :] > np.asarray(thresholds, dtype)[:, None]  # (T, N)
        tp = np.where(above & positive, w, 0).sum(axis=1, dtype=dtype)
        fp = np.where(above & ~positive, w, 0).sum(axis=1, dtype=dtype)
    tn = (~positive * w).sum(dtype=dtype) - fp
    fn = (positive * w).sum(dtype=dtype) - tp
    if not evenly:  # the comparison road counts them directly
        below = ~(p[None, :] > np.asarray(thresholds, dtype)[:, None])
        tn = np.where(below & ~positive, w, 0).sum(axis=1, dtype=dtype)
        fn = np.where(below & positive, w, 0).sum(axis=1, dtype=dtype)
    return tp, fp, tn, fn


def _divide_no_nan(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0, a / b).astype(a.dtype)


class _ThresholdMetric(Metric):
    """Precision and Recall: counts at ``thresholds`` (default 0.5), result per threshold."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        default = 0.5 if top_k is None else -1e7  # Keras's NEG_INF: every kept score counts
        self.thresholds = list(np.atleast_1d(default if thresholds is None else thresholds))
        self.true_positives = self.add_variable((len(self.thresholds),), name="true_positives")
        self.other = self.add_variable((len(self.thresholds),), name=self.OTHER)

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, p, w = _prepare(
            y_true, y_pred, sample_weight, self.dtype, self.top_k, self.class_id
        )
        evenly = _evenly_spread(self.thresholds)
        tp, fp, _, fn = confusion_counts(labels, p, w, self.thresholds, evenly, False)
        _add(self.true_positives, tp)
        _add(self.other, fp if self.OTHER == "false_positives" else fn)

    def result(self):
        tp = self.true_positives.value
        value = _divide_no_nan(tp, tp + self.other.value)
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_ThresholdMetric):
    """tp / (tp + fp): of the entries predicted positive (p > threshold), the share that are."""

    OTHER = "false_positives"


class Recall(_ThresholdMetric):
    """tp / (tp + fn): of the positive entries, the share predicted positive (p > threshold)."""

    OTHER = "false_negatives"


class AUC(Metric):
    """Area under the ROC (or precision-recall) curve, from counts at ``num_thresholds``.

    Math (ROC, "interpolation"): at thresholds t_0 = -eps < t_1 < ... < t_{T-1} = 1 + eps,
        recall_i = tp_i / (tp_i + fn_i),  fpr_i = fp_i / (fp_i + tn_i)
        AUC = sum_i (fpr_i - fpr_{i+1}) (recall_i + recall_{i+1}) / 2
    "minoring"/"majoring" take the min/max of the two heights; curve="PR" uses precision over
    recall, and for "interpolation" Davis & Goadrich's interpolation (Keras's
    ``interpolate_pr_auc``). Only ``multi_label=False``.
    """

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        super().__init__(name=name, dtype=dtype)
        if multi_label or num_labels or label_weights is not None:
            raise ValueError(
                f"AUC '{self.name}': multi_label, num_labels and label_weights are not "
                "supported; use one AUC per label."
            )
        if curve.upper() not in ("ROC", "PR") or summation_method not in (
            "interpolation",
            "minoring",
            "majoring",
        ):
            raise ValueError(
                f"AUC '{self.name}': curve must be 'ROC' or 'PR' and summation_method "
                f"'interpolation', 'minoring' or 'majoring'; got {curve!r}, {summation_method!r}."
            )
        self.curve, self.summation_method = curve.upper(), summation_method
        self.multi_label, self.num_labels, self.label_weights = False, None, None
        self.from_logits = from_logits
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spread(np.array([0.0] + inner + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC '{self.name}': num_thresholds must be > 1.")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        eps = config.epsilon()
        self._thresholds = np.array([0.0 - eps] + inner + [1.0 + eps])
        shape = (self.num_thresholds,)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")

    @property
    def thresholds(self):
        return list(self._thresholds)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = as_array(y_pred)
        if self.from_logits:
            y_pred = 1 / (1 + np.exp(-y_pred))
        labels, p, w = _prepare(y_true, y_pred, sample_weight, self.dtype)
        counts = confusion_counts(labels, p, w, self._thresholds, self._evenly, True)
        for variable, count in zip(
            (self.true_positives, self.false_positives, self.true_negatives, self.false_negatives),
            counts,
        ):
            _add(variable, count)

    def _interpolate_pr_auc(self):
        tp, fp, fn = (
            self.true_positives.value,
            self.false_positives.value,
            self.false_negatives.value,
        )
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        prec_slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        safe_p_ratio = np.where(
            (p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1
        ).astype(tp.dtype)
        increment = _divide_no_nan(
            prec_slope * (dtp + intercept * np.log(safe_p_ratio)), np.maximum(tp[1:] + fn[1:], 0)
        )
        return increment.sum(dtype=tp.dtype)

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / y.dtype.type(2)
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return ((x[:-1] - x[1:]) * heights).sum(dtype=tp.dtype)

    def get_config(self):
        config = {
            "name": self.name,
            "dtype": self.dtype,
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": False,
            "num_labels": None,
            "label_weights": None,
            "from_logits": self.from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class F1Score(Metric):
    """Harmonic mean of precision and recall, per class (``average=None``) or averaged.

    Args:
        average: None (one score per class), "micro", "macro" or "weighted".
        threshold: p > threshold is positive; None: the highest score of each row (if > 1e-9).

    Math: P = tp / (tp + fp + eps), R = tp / (tp + fn + eps), F1 = 2 P R / (P + R + eps)
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"F1Score '{self.name}': average must be None, 'micro', 'macro' or 'weighted', "
                f"got {average!r}."
            )
        if threshold is not None and not (isinstance(threshold, float) and 0 < threshold <= 1):
            raise ValueError(
                f"F1Score '{self.name}': threshold must be a float in (0, 1], got {threshold!r}."
            )
        self.average, self.threshold, self.beta = average, threshold, 1.0
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                f"F1Score '{self.name}' expects 2D inputs (batch_size, output_dim); got "
                f"y_true.shape={y_true_shape}, y_pred.shape={y_pred_shape}."
            )
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, name="intermediate_weights")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = as_array(y_true).astype(self.dtype)
        y_pred = as_array(y_pred).astype(self.dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            y_pred = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.astype(self.dtype)
        w = None if sample_weight is None else as_array(sample_weight).astype(self.dtype)[:, None]

        def weighted_sum(values):
            return (values if w is None else values * w).sum(axis=self.axis, dtype=self.dtype)

        _add(self.true_positives, weighted_sum(y_pred * y_true))
        _add(self.false_positives, weighted_sum(y_pred * (1 - y_true)))
        _add(self.false_negatives, weighted_sum((1 - y_pred) * y_true))
        _add(self.intermediate_weights, weighted_sum(y_true))

    def result(self):
        eps = np.dtype(self.dtype).type(config.epsilon())
        tp = self.true_positives.value
        precision = tp / (tp + self.false_positives.value + eps)
        recall = tp / (tp + self.false_negatives.value + eps)
        f1 = precision * recall / (precision + recall + eps) * np.dtype(self.dtype).type(2)
        if self.average == "weighted":
            weights = self.intermediate_weights.value
            return (f1 * (weights / (weights.sum() + eps))).sum(dtype=self.dtype)
        if self.average is not None:
            return f1.mean(dtype=self.dtype)
        return f1

    def reset_state(self):
        for variable in self.variables:
            variable.value[...] = 0

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "average": self.average,
            "threshold": self.threshold,
        }
