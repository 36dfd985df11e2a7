"""Check your exercise answers: ``python -m exercises.check [name ...] [--answers library]``.

For each exercise the check runs your forward pass on small random float64 inputs and compares:

* your forward value with Keras's (or scratchnet's, when Keras is not installed);
* each gradient your backward pass returns with finite differences of your own forward pass,
  dL/dtheta ~ (L(theta + eps) - L(theta - eps)) / (2 eps) for the fake loss L = sum(y * dy) with a
  random dy (never all ones: ones hide transposed or misrouted gradients);
* each gradient with Keras's GradientTape (or scratchnet's backward).

A tensor passes when max |yours - expected| <= atol + rtol * max |expected| (normwise, as
``scratchnet.gradcheck``). A failure names the tensor, the worst index, both values and a hint.
"""

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from exercises import references

EXERCISES = (
    "dense",
    "conv2d",
    "max_pooling2d",
    "softmax_cross_entropy",
    "dropout",
    "adam",
    "batch_normalization",
)
EPS = 1e-6
FD_TOL = (1e-5, 1e-8)  # (rtol, atol) against finite differences
REF_TOL = (1e-7, 1e-10)  # against Keras or scratchnet, both float64 (Adam: float32 steps)

HINTS = {
    ("dense", "dkernel"): "dkernel = x^T @ dy, shaped (D_in, units) like the kernel",
    ("dense", "dbias"): "dbias = dy summed over the batch axis",
    ("dense", "dx"): "dx = dy @ kernel^T",
    ("conv2d", "y"): "Keras correlates (no kernel flip); 'same' with stride 2 pads the bottom "
    "and right more than the top and left",
    ("conv2d", "dkernel"): "dkernel[a, b, c, o] = sum over n, i, j of x_pad[n, i*s+a, j*s+b, c] "
    "* dy[n, i, j, o]",
    ("conv2d", "dx"): "each dy[n, i, j, o] sends kernel[a, b, :, o] * dy to x_pad[n, i*s+a, "
    "j*s+b, :]; then cut the padding off",
    ("conv2d", "dbias"): "dbias = dy summed over N, H_out and W_out",
    ("max_pooling2d", "dx"): "each window's dy goes to the position of its maximum",
    ("max_pooling2d", "dx (with ties)"): "with ties Keras gives the whole gradient to the first "
    "maximum in row-major window order (top row first, left to right), none to the others",
    ("softmax_cross_entropy", "loss"): "subtract each row's max from the logits before exp; "
    "the loss is the mean over the batch",
    ("softmax_cross_entropy", "dlogits"): "dL/dz = (p - y_true) / N, times dloss",
    (
        "dropout",
        "y",
    ): "inverted dropout: y = x * keep / (1 - rate), so nothing changes at test time",
    ("dropout", "dx"): "dx = dy * keep / (1 - rate): the same mask and scale as forward",
    ("adam", "w"): "Keras: alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), then "
    "w -= alpha * m / (sqrt(v) + epsilon): epsilon outside the square root and uncorrected",
    ("batch_normalization", "y"): "the variance is the biased one (divide by the count, not "
    "count - 1), over every axis but the last",
    ("batch_normalization", "dx"): "dx = gamma / std * (dy - mean(dy) - x_hat * mean(dy * "
    "x_hat)), the means over every axis but the last: the mean and variance depend on x",
    ("batch_normalization", "dgamma"): "dgamma = sum of dy * x_hat over every axis but the last",
    ("batch_normalization", "dbeta"): "dbeta = dy summed over every axis but the last",
}


@dataclass
class Verdict:
    """One tensor of one exercise, compared with one reference."""

    exercise: str
    tensor: str  # 'y', 'dx', 'dkernel', 'w after step 2', ...
    against: str  # 'Keras', 'scratchnet', 'finite differences'
    passed: bool
    detail: str = ""  # for a failure: the worst index, both values, and a hint

    def __str__(self):
        mark = "ok" if self.passed else "WRONG"
        line = f"  {self.tensor} vs {self.against}: {mark}"
        return line + (f"\n    {self.detail}" if self.detail else "")


def compare(exercise, tensor, against, yours, expected, tol):
    """A Verdict for ``yours`` against ``expected`` (see the module docstring)."""
    expected = np.asarray(expected, dtype=np.float64)
    hint = HINTS.get((exercise, tensor)) or HINTS.get((exercise, tensor.split(" (")[0]), "")
    if yours is None:
        return Verdict(exercise, tensor, against, False, f"got None. Hint: {hint}")
    yours = np.asarray(yours, dtype=np.float64)
    if yours.shape != expected.shape:
        why = f"shape {yours.shape}, expected {expected.shape}"
        if yours.ndim == 2 and yours.T.shape == expected.shape:
            why += " (transposed?)"
        return Verdict(exercise, tensor, against, False, f"{why}. Hint: {hint}")
    rtol, atol = tol
    error = np.abs(yours - expected)
    if error.size == 0 or error.max() <= atol + rtol * np.abs(expected).max(initial=0):
        return Verdict(exercise, tensor, against, True)
    index = np.unravel_index(np.argmax(error), error.shape)
    found = diagnose(yours, expected)
    detail = (
        f"worst at index {tuple(int(i) for i in index)}: yours {yours[index]:.6g}, expected "
        f"{expected[index]:.6g}. Hint: {found + '; ' if found else ''}{hint}"
    )
    return Verdict(exercise, tensor, against, False, detail)


def diagnose(yours, expected):
    """A recognisable mistake: a flipped sign, all zeros, or a constant factor."""
    if np.allclose(yours, -expected, rtol=1e-5, atol=1e-9):
        return "the sign is flipped"
    if np.allclose(yours, 0):
        return "all zeros: does the gradient reach this tensor?"
    big = np.abs(expected) > 1e-6 * np.abs(expected).max()
    ratio = yours[big] / expected[big]
    if ratio.size and np.allclose(ratio, ratio.mean(), rtol=1e-4):
        return f"off by a constant factor {ratio.mean():.4g}"
    if yours.ndim == 2 and yours.shape[0] == yours.shape[1] and np.allclose(yours.T, expected):
        return "transposed"
    return ""


def numeric_gradient(forward, inputs, kwargs, name, dy):
    """Central differences of L = sum(forward(**inputs)[0] * dy) with respect to inputs[name]."""
    array = inputs[name].copy()
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        losses = []
        for step in (EPS, -EPS):
            array[index] = saved + step
            args = {k: (array.copy() if k == name else v.copy()) for k, v in inputs.items()}
            y, _ = forward(*args.values(), **kwargs)
            losses.append(np.sum(np.asarray(y, dtype=np.float64) * dy))
        array[index] = saved
        grad[index] = (losses[0] - losses[1]) / (2 * EPS)
    return grad


def check_pass(exercise, answer, reference, inputs, kwargs, rng, suffix="", fd=True):
    """Forward and backward of a layer exercise on one case: the verdicts."""
    copies = {k: v.copy() for k, v in inputs.items()}
    y_ref, grads_ref, dy = reference.run(exercise, copies, kwargs, lambda s: rng.normal(size=s))
    y, cache = answer.forward(*(v.copy() for v in inputs.values()), **kwargs)
    forward_name = ("loss" if np.ndim(y_ref) == 0 else "y") + suffix
    out = [compare(exercise, forward_name, reference.name, y, y_ref, REF_TOL)]
    grads = answer.backward(dy, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    names = [f"d{n}" for n in inputs if n not in references.CONSTANTS]
    if len(grads) != len(names):
        detail = f"backward returned {len(grads)} arrays; expected {len(names)}: {names}"
        return out + [Verdict(exercise, "backward", "its signature", False, detail)]
    for name, grad in zip(names, grads):
        tensor = name + suffix
        if fd:
            numeric = numeric_gradient(answer.forward, inputs, kwargs, name[1:], dy)
            out.append(compare(exercise, tensor, "finite differences", grad, numeric, FD_TOL))
        out.append(compare(exercise, tensor, reference.name, grad, grads_ref[name], REF_TOL))
    return out


def check(exercise, answer, reference, seed=0):
    """Every verdict for one exercise (``answer`` is a module with its functions)."""
    rng = np.random.default_rng(seed)
    n = rng.normal
    if exercise == "dense":
        case = {"x": n(size=(4, 5)), "kernel": n(size=(5, 3)), "bias": n(size=3)}
        return check_pass(exercise, answer, reference, case, {}, rng)
    if exercise == "conv2d":
        out = []
        for kwargs in ({"strides": 1, "padding": "valid"}, {"strides": 2, "padding": "same"}):
            case = {"x": n(size=(2, 6, 6, 2)), "kernel": n(size=(3, 3, 2, 3)), "bias": n(size=3)}
            suffix = f" (strides={kwargs['strides']}, padding='{kwargs['padding']}')"
            out += check_pass(exercise, answer, reference, case, kwargs, rng, suffix)
        return out
    if exercise == "max_pooling2d":
        kwargs = {"pool_size": 2, "strides": 2}
        out = check_pass(exercise, answer, reference, {"x": n(size=(2, 4, 4, 3))}, kwargs, rng)
        ties = {"x": rng.integers(0, 3, size=(2, 4, 4, 3)).astype(np.float64)}  # many ties
        return out + check_pass(exercise, answer, reference, ties, kwargs, rng,
                                suffix=" (with ties)", fd=False)  # fmt: skip
    if exercise == "softmax_cross_entropy":
        logits = n(size=(5, 4)) * 3
        logits[0, 1] = 800.0  # a logit whose exp overflows float64
        case = {"logits": logits, "y_true": np.eye(4)[rng.integers(0, 4, size=5)]}
        return check_pass(exercise, answer, reference, case, {}, rng)
    if exercise == "dropout":
        x, rate = n(size=(4, 6)), 0.4
        case = {"x": x, "keep": reference.dropout_keep(x, rate)}
        return check_pass(exercise, answer, reference, case, {"rate": rate}, rng)
    if exercise == "adam":
        return check_adam(answer, reference, rng)
    if exercise == "batch_normalization":
        case = {"x": n(size=(4, 2, 2, 3)) * 2 + 1, "gamma": n(size=3), "beta": n(size=3)}
        return check_pass(exercise, answer, reference, case, {"epsilon": 1e-3}, rng)
    raise ValueError(f"No exercise {exercise!r}; the exercises are {', '.join(EXERCISES)}.")


def check_adam(answer, reference, rng):
    """Three Adam steps from zero moments, against the reference optimizer's weights."""
    kwargs = {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    w, gs = rng.normal(size=(3, 4)), [rng.normal(size=(3, 4)) for _ in range(3)]
    expected = reference.adam(w, gs, kwargs)
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t, (g, w_ref) in enumerate(zip(gs, expected), 1):
        w, m, v = answer.step(w.copy(), g.copy(), m, v, t, **kwargs)
        tol = (1e-6, 1e-9)  # Keras keeps the learning rate and the beta powers in float32
        verdict = compare("adam", "w", reference.name, w, w_ref, tol)
        verdict.tensor = f"w after step {t}"
        out.append(verdict)
        if not verdict.passed:
            break
    return out


def run(names, answers, reference, stream=sys.stdout):
    """Check ``names``, print a verdict per exercise; returns {name: passed}."""
    results = {}
    for name in names:
        try:
            verdicts = check(name, getattr(answers, name), reference)
        except NotImplementedError as error:
            print(f"{name}: not written yet ({error})", file=stream)
            results[name] = False
            continue
        passed = all(v.passed for v in verdicts)
        print(f"{name}: {'PASSED' if passed else 'FAILED'} (vs {reference.name})", file=stream)
        for verdict in verdicts:
            if not passed:
                print(verdict, file=stream)
        results[name] = passed
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help=f"default all: {', '.join(EXERCISES)}")
    parser.add_argument("--answers", choices=("yours", "library"), default="yours",
                        help="'library': scratchnet's own answers, which pass")  # fmt: skip
    parser.add_argument("--reference", choices=("auto", "keras", "scratchnet"), default="auto")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in EXERCISES]
    if unknown:
        parser.error(f"unknown exercise(s) {unknown}; choose from {', '.join(EXERCISES)}")
    if args.answers == "library":
        from exercises import library_answers as answers
    else:
        import importlib

        answers = type("Answers", (), {})()
        for name in args.names or EXERCISES:
            setattr(answers, name, importlib.import_module(f"exercises.{name}"))
    reference = {"auto": references.best, "keras": references.Keras,
                 "scratchnet": references.Scratchnet}[args.reference]()  # fmt: skip
    results = run(args.names or EXERCISES, answers, reference)
    print(f"{sum(results.values())} of {len(results)} exercises pass.")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
