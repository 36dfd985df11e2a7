"""The layers that merge tensors (the Functional API's joins): Concatenate, Add, and the
element-wise Average, Subtract, Multiply, Maximum and Minimum.

A merge layer is called on a list, ``Concatenate()([a, b])``, and its backward returns a list: one
gradient per input, in the same order. This is where a graph stops being a chain. When backprop
reaches a merge, the gradient splits into the branches; where branches started from one tensor
(``a = f(x); b = g(x)``), the tape adds their gradients back together (see ``layers/base.py``).
"""

import numpy as np

from ..naming import shape_str
from .base import Layer


class Merge(Layer):
    """Base class of the merge layers: takes a list of at least two tensors."""

    def check_input_shape(self, shape):
        """Per-input check: every input has a batch axis (the list is checked in ``build``)."""
        if len(shape) < 1:
            raise ValueError(f"{type(self).__name__} '{self.name}': inputs need a batch axis.")

    def _check_list(self, input_shape):
        """``input_shape`` must be a list of at least two shapes of the same rank."""
        if not isinstance(input_shape, (list, tuple)) or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' must be called on a list of tensors, e.g. "
                f"{type(self).__name__}()([a, b]); got a single tensor."
            )
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs at least 2 inputs, got {len(shapes)}."
            )
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': all inputs must have the same rank, got "
                f"shapes {', '.join(shape_str(s) for s in shapes)}."
            )
        return shapes

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # raises early if the shapes do not fit together
        super().build([tuple(s) for s in input_shape])


class Concatenate(Merge):
    """Join tensors along one axis: ``Concatenate(axis=-1)([a, b])``.

    Args:
        axis: the axis to join along (default the last one: channels for images).

    Shapes:
        inputs: x_1 (N, ..., C_1, ...), x_2 (N, ..., C_2, ...), ... equal except along ``axis``
        y: (N, ..., C_1 + C_2 + ..., ...)

    Math:
        forward:  y = [x_1 | x_2 | ...] along axis
        backward: dx_k = the slice of dy that x_k filled (the split undoes the join)

    Example:
        >>> import numpy as np
        >>> Concatenate()([np.zeros((2, 3)), np.ones((2, 4))]).shape
        (2, 7)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        ndim = len(shapes[0])
        axis = self.axis % ndim
        if axis == 0:
            raise ValueError(
                f"Concatenate '{self.name}': cannot join along the batch axis (axis 0)."
            )
        for i in range(1, ndim):
            sizes = {s[i] for s in shapes if s[i] is not None}
            if i != axis and len(sizes) > 1:
                raise ValueError(
                    f"Concatenate '{self.name}' (axis={self.axis}) needs inputs whose shapes match "
                    f"on every axis but the concatenation axis; got "
                    f"{', '.join(shape_str(s) for s in shapes)}. Crop or pad one branch "
                    "(layers.Cropping2D, layers.ZeroPadding2D) so the sizes agree."
                )
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def forward(self, xs, training=False):
        self.compute_output_shape([x.shape for x in xs])  # every batch must fit, not just the first
        axis = self.axis % xs[0].ndim
        if training:
            # backward only needs where each input's slice ends along the axis
            self._splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)  # (N, ..., sum C_k, ...)

    def backward(self, dy, need_dx=True):
        axis = self.axis % dy.ndim
        return [np.ascontiguousarray(d) for d in np.split(dy, self._splits, axis=axis)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Add(Merge):
    """Add tensors of the same shape element-wise: ``Add()([a, b])`` (a residual join).

    Shapes:
        inputs: x_1, x_2, ... all (N, ...) with the same shape
        y: (N, ...)

    Math:
        forward:  y = x_1 + x_2 + ...
        backward: dx_k = dy for every k (each input moves y one for one)

    Example:
        >>> import numpy as np
        >>> Add()([np.ones((2, 3)), np.ones((2, 3))])[0]
        array([2., 2., 2.], dtype=float32)
    """

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        out = []
        for sizes in zip(*shapes):
            known = {d for d in sizes if d is not None}
            if len(known) > 1:
                raise ValueError(
                    f"Add '{self.name}' needs inputs of the same shape, got "
                    f"{', '.join(shape_str(s) for s in shapes)}. Crop or pad one branch "
                    "(layers.Cropping2D, layers.ZeroPadding2D) so the shapes agree."
                )
            out.append(known.pop() if known else None)
        return tuple(out)

    def forward(self, xs, training=False):
        self.compute_output_shape([x.shape for x in xs])  # every batch must fit, not just the first
        y = xs[0].copy()  # (N, ...)
        for x in xs[1:]:
            y += x
        if training:
            self._n_inputs = len(xs)  # backward hands dy to each input, nothing else needed
        return y

    def backward(self, dy, need_dx=True):
        return [dy] * self._n_inputs  # the same array for each: backward never modifies dy


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of ``Concatenate``: ``concatenate([a, b], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """Functional form of ``Add``: ``add([a, b])``."""
    return Add(**kwargs)(inputs)


# ------------------------------------------------------------------------- element-wise merges


class ElementwiseMerge(Merge):
    """Base of Average, Subtract, Multiply, Maximum and Minimum: Keras's broadcasting rules.

    The inputs may differ where one of them has size 1 (it is broadcast), and a lower-rank input
    gets size-1 axes inserted after the batch axis first, as Keras does (``expand_dims(x, 1)``),
    so (N, 4) merges with (N, 3, 4). The batch sizes must agree. One input is allowed, as in
    Keras (the merge is then the identity, or x * 1).

    The backward of a broadcast input sums dy over the axes it was broadcast along
    (``_unbroadcast``): each of its values reached the loss through every copy.
    """

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        ndim = max(len(s) for s in shapes)
        out = []
        for sizes in zip(*(self._aligned_shape(s, ndim) for s in shapes)):
            if None in sizes:
                out.append(None)
                continue
            known = {d for d in sizes if d != 1}
            if len(known) > 1:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' needs inputs of the same shape, or "
                    f"of sizes that broadcast (1 against any size); got "
                    f"{', '.join(shape_str(s) for s in shapes)}."
                )
            out.append(known.pop() if known else 1)
        batches = {s[0] for s in shapes} - {None}
        out[0] = batches.pop() if len(batches) == 1 else None
        return tuple(out)

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' must be called on a list of tensors, e.g. "
                f"{type(self).__name__}()([a, b]); got a single tensor."
            )
        shapes = [tuple(s) for s in input_shape]
        if not shapes:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs at least 1 input.")
        batches = {s[0] for s in shapes} - {None}
        if len(batches) > 1:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': cannot merge tensors with different "
                f"batch sizes, got {', '.join(shape_str(s) for s in shapes)}."
            )
        return shapes

    @staticmethod
    def _aligned_shape(shape, ndim):
        """(N, *rest) -> (N, 1, ..., 1, *rest) of rank ``ndim`` (Keras's expand_dims(x, 1))."""
        return (shape[0], *(1,) * (ndim - len(shape)), *shape[1:])

    def _aligned(self, xs):
        """The inputs as arrays of one rank (views), and their shapes for ``_unbroadcast``."""
        self.compute_output_shape([x.shape for x in xs])  # every batch must fit, not just the first
        ndim = max(x.ndim for x in xs)
        return [x.reshape(self._aligned_shape(x.shape, ndim)) for x in xs]

    def _unbroadcast(self, d, shape):
        """dy-shaped ``d`` summed back to an input of ``shape`` (before alignment)."""
        aligned = self._aligned_shape(shape, d.ndim)
        axes = tuple(i for i, (a, b) in enumerate(zip(aligned, d.shape)) if a == 1 and b != 1)
        if axes:
            d = d.sum(axis=axes, keepdims=True)  # a broadcast value: the sum over its copies
        return d.reshape(shape)

    def forward(self, xs, training=False):
        if training:
            self._shapes = [x.shape for x in xs]  # backward sums each gradient back to these
        return self.merge(self._aligned(xs), training)

    def backward(self, dy, need_dx=True):
        return [self._unbroadcast(d, s) for d, s in zip(self.merge_backward(dy), self._shapes)]


class Average(ElementwiseMerge):
    """The element-wise mean of tensors: ``Average()([a, b])``.

    Shapes:
        inputs: x_1, ..., x_n, (N, ...) each, equal or broadcastable (see ``ElementwiseMerge``)
        y: (N, ...)

    Math:
        forward:  y = (x_1 + x_2 + ... + x_n) / n   (summed left to right, then divided, as Keras)
        backward: dx_k = dy / n for every k

    Example:
        >>> import numpy as np
        >>> Average()([np.zeros((1, 2)), np.ones((1, 2))])
        array([[0.5, 0.5]], dtype=float32)
    """

    def merge(self, xs, training):
        y = xs[0]
        for x in xs[1:]:
            y = y + x  # (N, ...): broadcast, a new array
        if training:
            self._n = len(xs)  # backward needs only the count
        return y / len(xs)

    def merge_backward(self, dy):
        dx = dy / self._n  # the same share of dy for each input
        return [dx] * self._n


class Subtract(ElementwiseMerge):
    """The difference of exactly two tensors: ``Subtract()([a, b])`` is a - b.

    Shapes:
        inputs: x_1, x_2, (N, ...) each, equal or broadcastable; y: (N, ...)

    Math:
        forward:  y = x_1 - x_2
        backward: dx_1 = dy;  dx_2 = -dy

    Example:
        >>> import numpy as np
        >>> Subtract()([np.ones((1, 2)), np.ones((1, 2))])
        array([[0., 0.]], dtype=float32)
    """

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        if len(shapes) != 2:
            raise ValueError(
                f"Subtract '{self.name}' must be called on exactly 2 inputs, [a, b] for a - b; "
                f"got {len(shapes)}."
            )
        return super().compute_output_shape(shapes)

    def merge(self, xs, training):
        return xs[0] - xs[1]  # (N, ...)

    def merge_backward(self, dy):
        return [dy, -dy]


class Multiply(ElementwiseMerge):
    """The element-wise product of tensors: ``Multiply()([a, b])`` (a gate, an attention mask).

    Shapes:
        inputs: x_1, ..., x_n, (N, ...) each, equal or broadcastable; y: (N, ...)

    Math:
        forward:  p_1 = x_1;  p_k = p_{k-1} * x_k;  y = p_n   (left to right, as Keras)
        backward: the chain rule through the products, last one first. With g = dy:
                  for k = n, ..., 2:  dx_k = g * p_{k-1};  g = g * x_k
                  dx_1 = g
                  so dx_k = dy * (the product of all the other inputs).

    Example:
        >>> import numpy as np
        >>> Multiply()([np.full((1, 2), 2.0), np.full((1, 2), 3.0)])
        array([[6., 6.]], dtype=float32)
    """

    def merge(self, xs, training):
        products = [xs[0]]  # p_1, ..., p_n
        for x in xs[1:]:
            products.append(products[-1] * x)  # (N, ...): broadcast, a new array
        if training:
            self._xs, self._products = xs, products  # backward needs each x_k and each p_{k-1}
        return products[-1]

    def merge_backward(self, dy):
        xs, products = self._xs, self._products
        dxs, g = [None] * len(xs), dy  # g = dL/dp_k, walking back from p_n = y
        for k in range(len(xs) - 1, 0, -1):
            dxs[k] = g * products[k - 1]  # p_k = p_{k-1} * x_k:  dL/dx_k = g * p_{k-1}
            g = g * xs[k]  # and dL/dp_{k-1} = g * x_k
        dxs[0] = g
        return dxs


class _Extremum(ElementwiseMerge):
    """Maximum and Minimum: a running extremum, m_k = pick(m_{k-1}, x_k), with TensorFlow's
    rule for ties: the left operand m_{k-1} wins (tf.maximum's gradient tests x >= y,
    tf.minimum's x <= y), so among equal values the first input gets the whole gradient."""

    def merge(self, xs, training):
        running = [xs[0]]  # m_1, ..., m_n
        for x in xs[1:]:
            running.append(self.pick(running[-1], x))  # (N, ...)
        if training:
            self._xs, self._running = xs, running  # backward compares m_{k-1} with x_k again
        return running[-1]

    def merge_backward(self, dy):
        xs, running = self._xs, self._running
        dxs, g = [None] * len(xs), dy  # g = dL/dm_k, walking back from m_n = y
        for k in range(len(xs) - 1, 0, -1):
            left_wins = self.left_wins(running[k - 1], xs[k])  # (N, ...) bool, ties -> left
            dxs[k] = np.where(left_wins, 0, g)  # (N, ...): dy where x_k won
            g = np.where(left_wins, g, 0)  # and where m_{k-1} won
        dxs[0] = g
        return dxs


class Maximum(_Extremum):
    """The element-wise maximum of tensors: ``Maximum()([a, b])``.

    Shapes:
        inputs: x_1, ..., x_n, (N, ...) each, equal or broadcastable; y: (N, ...)

    Math:
        forward:  m_1 = x_1;  m_k = max(m_{k-1}, x_k);  y = m_n
        backward: with g = dy, for k = n, ..., 2:  w = (m_{k-1} >= x_k)
                  dx_k = g where not w, else 0;  g = g where w, else 0;   dx_1 = g
                  Each value of dy goes to one input: the largest, the first one on a tie
                  (measured: TensorFlow's rule, see ``_Extremum``).

    Example:
        >>> import numpy as np
        >>> Maximum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])])
        array([[3., 5.]], dtype=float32)
    """

    pick = staticmethod(np.maximum)
    left_wins = staticmethod(np.greater_equal)


class Minimum(_Extremum):
    """The element-wise minimum of tensors: ``Minimum()([a, b])``.

    Shapes:
        inputs: x_1, ..., x_n, (N, ...) each, equal or broadcastable; y: (N, ...)

    Math:
        forward:  m_1 = x_1;  m_k = min(m_{k-1}, x_k);  y = m_n
        backward: as Maximum's with w = (m_{k-1} <= x_k): dy goes to the smallest input, the
                  first one on a tie.

    Example:
        >>> import numpy as np
        >>> Minimum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])])
        array([[1., 2.]], dtype=float32)
    """

    pick = staticmethod(np.minimum)
    left_wins = staticmethod(np.less_equal)


def average(inputs, **kwargs):
    """Functional form of ``Average``: ``average([a, b])``."""
    return Average(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of ``Subtract``: ``subtract([a, b])`` is a - b."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of ``Multiply``: ``multiply([a, b])``."""
    return Multiply(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of ``Maximum``: ``maximum([a, b])``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of ``Minimum``: ``minimum([a, b])``."""
    return Minimum(**kwargs)(inputs)
