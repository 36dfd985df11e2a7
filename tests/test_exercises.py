"""The exercises' checker, both ways: scratchnet's own answers pass every check (against Keras,
which the test environment has, against finite differences, and against scratchnet), and a
deliberately wrong answer to each exercise fails, naming the tensor, the worst index, both
values and the hint for that mistake."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from exercises import check, library_answers, references

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def keras_reference():
    return references.Keras()


@pytest.mark.parametrize("name", check.EXERCISES)
def test_the_library_answers_pass_every_check(name, keras_reference):
    for reference in (keras_reference, references.Scratchnet()):
        verdicts = check.check(name, getattr(library_answers, name), reference)
        assert verdicts and all(v.passed for v in verdicts), [str(v) for v in verdicts]
        assert any(v.against == "finite differences" for v in verdicts) or name in ("adam",)


def replace(namespace, **functions):
    return SimpleNamespace(**{**vars(namespace), **functions})


def dense_transposed_dkernel(dy, layer):
    dx, dkernel, dbias = library_answers.dense.backward(dy, layer)
    return dx, dkernel.T, dbias


def conv_mean_bias(dy, layer):
    dx, dkernel, dbias = library_answers.conv2d.backward(dy, layer)
    return dx, dkernel, dbias / dy.shape[0]


def pool_last_maximum(dy, cache):
    """Send each window's gradient to its LAST maximum (Keras: the first)."""
    x = cache
    N, H, W, C = x.shape
    dx = np.zeros_like(x)
    for n, i, j, c in np.ndindex(N, H // 2, W // 2, C):
        window = x[n, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, c].ravel()
        k = len(window) - 1 - int(np.argmax(window[::-1]))
        dx[n, 2 * i + k // 2, 2 * j + k % 2, c] = dy[n, i, j, c]
    return dx


def pool_forward_keeping_x(x, pool_size=2, strides=2):
    y, _ = library_answers.max_pooling2d.forward(x, pool_size, strides)
    return y, x


def softmax_without_mean(dloss, dz):
    return dloss * dz * len(dz)  # (p - y): the 1/N forgotten


def dropout_unscaled(x, keep, rate):
    return x * keep, (keep,)


def adam_without_bias_correction(w, g, m, v, t, learning_rate, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    return w - learning_rate * m / (np.sqrt(v) + epsilon), m, v


def bn_forward_keeping_x(x, gamma, beta, epsilon=1e-3):
    y, layer = library_answers.batch_normalization.forward(x, gamma, beta, epsilon)
    return y, (layer, x, gamma, epsilon)


def bn_dx_ignoring_the_batch_statistics(dy, cache):
    """dx as if the batch mean and variance were constants: the classic mistake."""
    layer, x, gamma, epsilon = cache
    _, dgamma, dbeta = library_answers.batch_normalization.backward(dy, layer)
    return dy * gamma / np.sqrt(x.var(axis=(0, 1, 2)) + epsilon), dgamma, dbeta


L = library_answers
WRONG = {
    # exercise: (wrong answer, failing tensor, against, words of the hint)
    "dense": (
        replace(L.dense, backward=dense_transposed_dkernel),
        "dkernel",
        "finite differences",
        "transposed?",
    ),
    "conv2d": (
        replace(L.conv2d, backward=conv_mean_bias),
        "dbias (strides=1, padding='valid')",
        "finite differences",
        "off by a constant factor 0.5",
    ),
    "max_pooling2d": (
        replace(L.max_pooling2d, forward=pool_forward_keeping_x, backward=pool_last_maximum),
        "dx (with ties)",
        "Keras",
        "first maximum in row-major window order",
    ),
    "softmax_cross_entropy": (
        replace(L.softmax_cross_entropy, backward=softmax_without_mean),
        "dlogits",
        "finite differences",
        "off by a constant factor 5",
    ),
    "dropout": (
        replace(L.dropout, forward=dropout_unscaled, backward=lambda dy, cache: dy * cache[0]),
        "y",
        "Keras",
        "x * keep / (1 - rate)",
    ),
    "adam": (
        SimpleNamespace(step=adam_without_bias_correction),
        "w after step 1",
        "Keras",
        "sqrt(1 - beta_2^t) / (1 - beta_1^t)",
    ),
    "batch_normalization": (
        replace(
            L.batch_normalization,
            forward=bn_forward_keeping_x,
            backward=bn_dx_ignoring_the_batch_statistics,
        ),
        "dx",
        "finite differences",
        "the mean and variance depend on x",
    ),
}


@pytest.mark.parametrize("name", check.EXERCISES)
def test_a_wrong_answer_fails_with_the_right_message(name, keras_reference):
    answer, tensor, against, hint = WRONG[name]
    verdicts = check.check(name, answer, keras_reference)
    failed = [v for v in verdicts if not v.passed]
    assert failed, f"{name}: the wrong answer passed"
    first = failed[0]
    assert (first.tensor, first.against) == (tensor, against), str(first)
    assert hint in first.detail, first.detail
    if "shape" not in first.detail:
        assert "worst at index (" in first.detail and "yours " in first.detail, first.detail
        assert "expected " in first.detail


def run_checker(*args):
    return subprocess.run(
        [sys.executable, "-m", "exercises.check", *args],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_command_passes_the_library_answers():
    done = run_checker("--answers", "library", "--reference", "scratchnet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 of 7 exercises pass." in done.stdout
    assert done.stdout.count("PASSED (vs scratchnet)") == 7


def test_the_command_on_the_unwritten_stubs_says_so_and_fails():
    done = run_checker("dense", "dropout", "--reference", "scratchnet")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dense: not written yet (exercises/dense.py: write forward" in done.stdout
    assert "0 of 2 exercises pass." in done.stdout


def test_the_command_refuses_an_unknown_exercise():
    done = run_checker("convolution")
    assert done.returncode == 2 and "unknown exercise(s) ['convolution']" in done.stderr
