"""One finite-difference check of the ops' backward rules, shared by the ``test_ops_*`` files.

L = sum(op(x) * dy) for a random dy (never all ones: ones hide a transposed or misplaced
gradient) is differentiated by hand, one element of each float argument at a time, with central
differences in float64, and compared with what backprop through the op's recorded backward rule
gives. Integer arguments (indices, counts) get no gradient and are skipped.
"""

import numpy as np

from scratchnet.ops import core


def grad_check(fn, *arrays, eps=1e-6, rtol=1e-6, atol=1e-8):
    """Assert that backprop through ``fn(*tensors)`` gives dL/d(each float array) of
    L = sum(y * dy) as central differences do; a failure names the argument and worst index."""
    rng = np.random.default_rng(0)
    with core.record_gradients():
        tensors = [core.Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        y = fn(*tensors)
    dy = rng.standard_normal(y.shape)
    analytic = core.gradients(y, dy, tensors)
    for i, (array, got) in enumerate(zip(arrays, analytic)):
        if array.dtype.kind != "f":
            continue
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = np.sum(fn(*map(core.Tensor, arrays)).numpy() * dy)
            array[index] = saved - eps
            down = np.sum(fn(*map(core.Tensor, arrays)).numpy() * dy)
            array[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        got = np.zeros_like(array) if got is None else got
        worst = np.unravel_index(np.argmax(np.abs(got - numeric)), array.shape)
        np.testing.assert_allclose(
            got, numeric, rtol=rtol, atol=atol,
            err_msg=f"d/d(argument {i}), worst at {worst}: backprop {got[worst]}, "
            f"finite differences {numeric[worst]}",
        )  # fmt: skip
