"""``scratchnet.utils.draw_tape``: what it draws is what backprop computed.

A small float64 model in which the input feeds two Dense layers that are added: the ``+`` box's
gradient is checked against central finite differences of the compiled loss, the gradients each
branch sends back must add up to it exactly, every weight's ``|dw|`` is the norm of the gradient
``compute_loss_and_gradients`` gives, and the subclassed twin draws the same arrows. The tape's
hook stays off unless a drawing asks, and drawing leaves the next training step unchanged.
"""

import numpy as np
import pytest

import scratchnet
from scratchnet import layers
from scratchnet.tape import Tape
from scratchnet.utils import draw_tape


def functional(seed=0):
    scratchnet.utils.set_random_seed(seed)
    x = scratchnet.Input((5,))
    a = layers.Dense(4, activation="tanh", name="a")(x)
    b = layers.Dense(4, name="b")(x)
    y = layers.Dense(3, activation="softmax", name="out")(layers.Add(name="add")([a, b]))
    model = scratchnet.Model(x, y)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


class Subclassed(scratchnet.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = layers.Dense(4, activation="tanh", name="a")
        self.b = layers.Dense(4, name="b")
        self.out = layers.Dense(3, activation="softmax", name="out")

    def call(self, x):
        return self.out(self.a(x) + self.b(x))


@pytest.fixture
def batch(float64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 5)), np.eye(3)[rng.integers(0, 3, size=6)]


def edges_around_the_sum(drawing):
    (plus,) = [box for box in drawing.boxes if box.kind == "sum"]
    (into,) = [e for e in drawing.edges if e.target == plus.index]
    return into, [e for e in drawing.edges if e.source == plus.index]


def test_the_summed_gradient_is_dl_dx_and_the_sum_of_both_branches(batch):
    x, y = batch
    model = functional()
    drawing = draw_tape(model, x, y)
    into, out_of = edges_around_the_sum(drawing)
    assert drawing.boxes[into.source].title == "input" and into.shape == (6, 5)
    assert sorted(drawing.boxes[e.target].title for e in out_of) == ["a (Dense)", "b (Dense)"]
    np.testing.assert_array_equal(into.grad, out_of[0].grad + out_of[1].grad)

    def loss(x_):
        return float(model.loss(y, model(x_)))

    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric[index] = (loss(up) - loss(down)) / 2e-6
    np.testing.assert_allclose(into.grad, numeric, rtol=1e-6, atol=1e-9)
    assert drawing.loss == pytest.approx(loss(x), rel=1e-12)


def test_the_norms_are_the_step_s_values_and_gradients(batch):
    x, y = batch
    model = functional()
    drawing = draw_tape(model, x, y)
    _, grads = model.compute_loss_and_gradients(x, y)
    for box in drawing.boxes:
        if box.title == "a (Dense)":
            kernel_line = box.lines[0]
            expected = np.linalg.norm(grads[0])
            assert kernel_line.startswith("kernel (5, 4)")
            assert f"|dw| {expected:.3g}" in kernel_line, (kernel_line, expected)
    (to_loss,) = [e for e in drawing.edges if drawing.boxes[e.target].kind == "loss"]
    p = model(x)
    assert to_loss.grad_name == "dz"  # softmax + cross-entropy hand dL/dz to the logits
    np.testing.assert_allclose(to_loss.grad, (p - y) / len(x), rtol=1e-12, atol=1e-15)
    assert to_loss.value_norm == pytest.approx(np.linalg.norm(p), rel=1e-12)
    assert "(6, 3)" in drawing.svg and f"|dz| {to_loss.grad_norm:.3g}" in drawing.svg


def test_the_subclassed_twin_draws_the_same_step(batch):
    x, y = batch
    model = functional()
    twin = Subclassed()
    twin.compile(optimizer="adam", loss="categorical_crossentropy")
    twin(x[:1])
    by_name = {layer.name: layer for layer in model.layers}
    for name in ("a", "b", "out"):
        getattr(twin, name).set_weights(by_name[name].get_weights())
    drawn, drawn_twin = draw_tape(model, x, y), draw_tape(twin, x, y)
    assert drawn_twin.loss == pytest.approx(drawn.loss, rel=1e-12)
    into, out_of = edges_around_the_sum(drawn)
    into_twin, out_of_twin = edges_around_the_sum(drawn_twin)
    np.testing.assert_allclose(into_twin.grad, into.grad, rtol=1e-12)
    np.testing.assert_array_equal(into_twin.grad, out_of_twin[0].grad + out_of_twin[1].grad)
    titles = [box.title for box in drawn_twin.boxes]
    assert "add" in titles and "a (Dense)" in titles  # the op `+` in call, and the layer calls


def test_the_hook_is_off_unless_a_drawing_asks(batch):
    x, y = batch
    assert Tape().kept is None
    model = functional()
    model.forward(x, training=True)
    assert model._tape.kept is None
    draw_tape(model, x, y)
    assert model._tape is None  # the drawing lets the step's tensors go


def test_drawing_leaves_the_next_training_step_unchanged(float64):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 5)), np.eye(3)[rng.integers(0, 3, size=8)]

    def model():
        scratchnet.utils.set_random_seed(3)
        m = scratchnet.Sequential([scratchnet.Input((5,)), layers.Dense(6), layers.Dropout(0.5),
                                   layers.Dense(3, activation="softmax")])  # fmt: skip
        m.compile(optimizer="adam", loss="categorical_crossentropy")
        return m

    drawn, plain = model(), model()
    draw_tape(drawn, x, y)
    assert drawn.train_on_batch(x, y) == plain.train_on_batch(x, y)  # the same Dropout mask
    for a, b in zip(drawn.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_uncompiled_model_is_refused(batch):
    x, y = batch
    model = scratchnet.Sequential([scratchnet.Input((5,)), layers.Dense(3)])
    with pytest.raises(RuntimeError, match="must be compiled before draw_tape"):
        draw_tape(model, x, y)


def test_the_drawing_shows_itself_in_a_notebook(batch):
    drawing = draw_tape(functional(), *batch)
    html = drawing._repr_html_()
    assert html.startswith("<div") and "<svg" in html and html.count('class="box ') == 7
    assert str(drawing).splitlines()[0].startswith("one training step, loss ")
