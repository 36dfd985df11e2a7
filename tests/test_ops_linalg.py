"""The products' and norms' backward rules against central finite differences (float64).

Same check as ``test_ops_shapes.py``: L = sum(op(x) * dy) for a random dy, differentiated one
element at a time, against backprop through the op's recorded backward rule.
"""

import numpy as np
import pytest
from finite_differences import grad_check

from scratchnet import ops
from scratchnet.ops import core


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize(
    "a, b",
    [
        ((2, 3), (3, 4)),
        ((2, 1, 2, 3), (4, 3, 2)),  # batch axes broadcast both ways
        ((3,), (2, 3, 4)),  # 1-D times a batch of matrices
        ((2, 2, 3), (3,)),
        ((3,), (3,)),
    ],
)
def test_matmul(a, b):
    grad_check(ops.matmul, normal(*a), normal(*b, seed=1))


@pytest.mark.parametrize(
    "a, b", [((), (2, 3)), ((2, 3), ()), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (4, 3, 2))]
)
def test_dot(a, b):
    grad_check(ops.dot, normal(*a), normal(*b, seed=1))


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ij,jk->ik", [(2, 3), (3, 4)]),
        ("bij,bkj->bik", [(2, 2, 3), (2, 4, 3)]),
        ("i,j->ij", [(2,), (3,)]),
        ("ii->", [(3, 3)]),  # trace: the gradient is the identity
        ("ii->i", [(3, 3)]),  # diagonal: zero off it
        ("ij->j", [(2, 3)]),  # i only in x: broadcast along it
        ("ji", [(2, 3)]),  # implicit, Keras's order: x itself
        ("iij,jk->ik", [(2, 2, 3), (3, 4)]),
        ("ij,kj,j->ik", [(2, 3), (4, 3), (3,)]),
        ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),  # a size-1 "..." axis broadcasts
        ("i...->...", [(3, 2)]),
    ],
)
def test_einsum(subscripts, shapes):
    fn = lambda *xs: ops.einsum(subscripts, *xs)
    grad_check(fn, *(normal(*shape, seed=i) for i, shape in enumerate(shapes)))


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(), (4,)),
        (dict(axis=1, keepdims=True), (2, 3)),
        (dict(ord=1, axis=0), (3, 2)),
        (dict(ord=np.inf, axis=-1), (2, 3)),
        (dict(ord=-np.inf, axis=-1), (2, 3)),
        (dict(ord=3, axis=0), (3, 2)),
        (dict(ord=0.5, axis=0), (3, 2)),
        (dict(), (2, 3)),  # Frobenius
        (dict(ord=1), (3, 3)),
        (dict(ord=-np.inf, axis=(1, 0)), (3, 3)),
        (dict(ord=2), (3, 2)),
        (dict(ord=-2, axis=(0, 2), keepdims=True), (3, 2, 2)),
        (dict(ord="nuc", axis=(2, 1)), (2, 3, 2)),
    ],
    ids=[
        "vector",
        "vector-keepdims",
        "1",
        "inf",
        "-inf",
        "3",
        "0.5",
        "fro",
        "matrix-1",
        "matrix--inf-axes-swapped",
        "matrix-2",
        "matrix--2-keepdims",
        "nuc",
    ],  # fmt: skip
)
def test_norm(kwargs, shape):
    grad_check(lambda x: ops.norm(x, **kwargs), normal(*shape) + 0.1)


def test_norm_of_zeros_has_a_nan_gradient():
    x = core.Tensor(np.zeros(3), requires_grad=True)
    with core.record_gradients():
        y = ops.norm(x)
    assert np.isnan(core.gradients(y, np.array(1.0), [x])[0]).all()  # 0 / 0, as Keras


def test_the_matmul_operator_is_matmul():
    a, b = normal(2, 3), normal(3, 2, seed=1)
    x = core.Tensor(a, requires_grad=True)
    with core.record_gradients():
        y = b @ x  # ndarray @ Tensor: the Tensor's op
    np.testing.assert_allclose(y.numpy(), b @ a)
    np.testing.assert_allclose(core.gradients(y, np.ones((3, 3)), [x])[0], b.T @ np.ones((3, 3)))
    np.testing.assert_allclose((x @ b).numpy(), a @ b)


def test_einsum_refuses_mismatched_subscripts():
    with pytest.raises(ValueError, match="subscripts 'ij' for an operand of shape"):
        ops.einsum("ij->i", np.ones((2, 3, 4)))
