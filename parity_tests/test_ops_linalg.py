"""Parity of scratchnet.ops' products and norms with keras.ops: dtype, values and gradients.

Shapes are drawn so the product is defined: the contracted length first, then the batch axes of
both operands (equal, 1 on one side, or missing on one side: NumPy's broadcasting), then 1-D
operands on purpose. Einsum cases are drawn as a subscript string and one length per letter.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_tests.ops_parity import check_op
from parity_tests.strategies import arrays

FLOATS = ("float32", "float64")


def floats(shape, dtype, kinds=("normal",)):
    return arrays(tuple(shape), dtype, kinds=kinds)


@st.composite
def batch_shapes(draw, max_rank=2):
    """Two batch shapes that broadcast together: per axis equal, 1 on one side, or missing."""
    a, b = [], []
    for _ in range(draw(st.integers(0, max_rank))):
        n = draw(st.integers(2, 3))
        n_a, n_b = draw(st.sampled_from([(n, n), (1, n), (n, 1), (None, n), (n, None)]))
        a.append(n_a)
        b.append(n_b)
    # a missing axis can only be a leading one: drop the Nones after the first present axis
    return _leading(a), _leading(b)


def _leading(shape):
    first = next((i for i, n in enumerate(shape) if n is not None), len(shape))
    return [n if n is not None else 1 for n in shape[first:]]


@settings(max_examples=25)
@given(st.data())
def test_matmul(data):
    dtype = data.draw(st.sampled_from(FLOATS))
    m, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = data.draw(batch_shapes())
    a_shape = data.draw(st.sampled_from([[k], [*batch_a, m, k]]))  # 1-D on purpose
    b_shape = data.draw(st.sampled_from([[k], [*batch_b, k, n]]))
    x1 = data.draw(floats(a_shape, dtype))
    x2 = data.draw(floats(b_shape, data.draw(st.sampled_from([dtype, "float64"]))))
    check_op("matmul", (x1, x2))


@pytest.mark.parametrize(
    "a, b",
    [("int32", "int32"), ("int8", "int8"), ("int16", "int16"), ("int32", "float32"),
     ("uint8", "uint8"), ("bool", "bool"), ("int64", "float32")],
)  # fmt: skip
def test_matmul_and_dot_dtypes_as_keras(a, b):
    """Integer products are computed in float32 and cast back; int8 matrices give int32."""
    x1 = (np.arange(6).reshape(2, 3) % 3).astype(a)
    x2 = (np.arange(6).reshape(3, 2) % 2).astype(b)
    check_op("matmul", (x1, x2))
    check_op("matmul", (x1[0], x2))  # int8 vector @ matrix stays int8 in Keras
    check_op("dot", (x1, x2))


def test_matmul_of_python_lists_and_the_operator():
    check_op("matmul", ([[1, 2]], [[3], [4]]))  # int32
    check_op("matmul", ([[1.0, 2.0]], [[3], [4]]))  # float32


@settings(max_examples=20)
@given(st.data())
def test_dot(data):
    dtype = data.draw(st.sampled_from(FLOATS))
    k = data.draw(st.integers(1, 4))
    sides = st.lists(st.integers(1, 3), max_size=2)
    kind = data.draw(st.sampled_from(["scalar", "vector", "general"]))
    if kind == "scalar":
        x1, x2 = data.draw(floats([], dtype)), data.draw(floats(data.draw(sides), dtype))
        if data.draw(st.booleans()):
            x1, x2 = x2, x1
    elif kind == "vector":  # x2 1-D: x1's last axis against it
        x1, x2 = data.draw(floats([*data.draw(sides), k], dtype)), data.draw(floats([k], dtype))
    else:  # x1 (A..., K) and x2 (B..., K, N)
        x1 = data.draw(floats([*data.draw(sides), k], dtype))
        x2 = data.draw(floats([*data.draw(sides)[:1], k, data.draw(st.integers(1, 3))], dtype))
    check_op("dot", (x1, x2))


# subscripts, and whether they name the common contractions
EINSUMS = [
    "ij,jk->ik",  # matmul
    "bij,bjk->bik",  # batch matmul
    "bij,bkj->bik",  # batch matmul with a transpose
    "i,j->ij",  # outer product
    "i,i->",  # inner product
    "ij,j->i",  # matrix times vector
    "ii->",  # trace
    "ii",  # trace, implicit output
    "ii->i",  # diagonal
    "ij->ji",  # transpose
    "ji",  # implicit: Keras keeps the order of first appearance (x itself)
    "ij->",  # sum of all
    "ij->j",  # column sums
    "ijk->kij",  # a permutation
    "ij,ij->i",  # row-wise dot
    "ij,kj,j->ik",  # three operands
    "iij,jk->ik",  # a diagonal inside a product
    "abc,cd->abd",  # Keras's matmul path ("custom ops")
    "abcd,abed->abce",  # attention scores
    "...ij,...jk->...ik",  # batched by ellipsis
    "...ij,jk->...ik",  # ellipsis on one side only
    "i...->...",  # sum of the first axis
]


@st.composite
def einsum_cases(draw):
    """A subscript string and operands of matching shapes (``...`` gets 0-2 broadcast axes)."""
    subscripts = draw(st.sampled_from(EINSUMS))
    letters = {c: draw(st.integers(1, 4)) for c in sorted(set(subscripts) - set(".,->"))}
    inputs = subscripts.split("->")[0].split(",")
    batch = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    dtype = draw(st.sampled_from(FLOATS))
    operands = []
    for term in inputs:
        shape = []
        for part in term.split("..."):
            shape.append([letters[c] for c in part])
        if len(shape) == 2:  # this term has "...": its own rank, sizes of 1 broadcast
            own = batch[len(batch) - draw(st.integers(0, len(batch))) :]
            own = [n if draw(st.booleans()) else 1 for n in own]
            shape = shape[0] + own + shape[1]
        else:
            shape = shape[0]
        operands.append(draw(floats(shape, dtype)))
    return subscripts, operands


@settings(max_examples=40)
@given(einsum_cases())
def test_einsum(case):
    subscripts, operands = case
    check_op("einsum", (subscripts, *operands))


@pytest.mark.parametrize("dtypes", [("int8", "int8"), ("int32", "int32"), ("int8", "int16")])
def test_einsum_dtypes_as_keras(dtypes):
    a = np.arange(6).reshape(2, 3).astype(dtypes[0])
    b = np.arange(12).reshape(3, 4).astype(dtypes[1])
    check_op("einsum", ("ij,jk->ik", a, b))  # Keras's matmul path
    check_op("einsum", ("ij,jk->ki", a, b))  # tf.einsum's path


VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, -1]
MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf, 2, -2, "nuc"]


@settings(max_examples=30)
@given(st.data())
def test_vector_norm(data):
    dtype = data.draw(st.sampled_from(FLOATS))
    ord = data.draw(st.sampled_from(VECTOR_ORDS))
    # ties (equal |x|) and zeros on purpose for the ords whose gradient is defined there
    kinds = ("normal", "ties", "zeros") if ord in (None, 2, 1, np.inf, -np.inf, 0) else ("normal",)
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    x = data.draw(floats(shape, dtype, kinds))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    if len(shape) == 1:
        axis = data.draw(st.sampled_from([None, axis]))
    check_op("norm", (x,), dict(ord=ord, axis=axis, keepdims=data.draw(st.booleans())))


@settings(max_examples=30)
@given(st.data())
def test_matrix_norm(data):
    dtype = data.draw(st.sampled_from(FLOATS))
    ord = data.draw(st.sampled_from(MATRIX_ORDS))
    svd = ord in (2, -2, "nuc")  # distinct singular values: normal values only
    kinds = ("normal",) if svd else ("normal", "ties", "zeros")
    shape = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=3))
    x = data.draw(floats(shape, dtype, kinds))
    axes = data.draw(st.permutations(range(len(shape))))[:2]
    if svd or len(shape) == 2 and data.draw(st.booleans()):
        axes = sorted(axes)  # Keras's keepdims with an svd norm needs sorted axes
    axis = None if len(shape) == 2 and data.draw(st.booleans()) else tuple(axes)
    check_op("norm", (x,), dict(ord=ord, axis=axis, keepdims=data.draw(st.booleans())))


def test_norm_of_zeros_has_a_nan_gradient_as_keras():
    check_op("norm", (np.zeros((2, 3)),))  # Frobenius: NaN
    check_op("norm", (np.zeros((2, 3)),), dict(axis=1))  # vector 2-norm: NaN
    check_op("norm", (np.zeros((2, 3)),), dict(ord=1, axis=0))  # 1-norm: 0


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "bool", "float16"])
def test_norm_dtype_as_keras(dtype):
    check_op("norm", (np.arange(6).reshape(2, 3).astype(dtype),))
