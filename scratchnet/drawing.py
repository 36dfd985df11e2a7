"""The tape, drawn: one training step of a model as a graph of its layer calls and ops.

``draw_tape(model, x, y)`` runs one forward and backward pass on the batch ``(x, y)`` (no update:
the weights stay as they are) and draws what ``scratchnet.tape`` recorded:

* a box for the model input, for every layer call (or, in a subclassed model, every op and
  built-in layer call of its ``call``), for each weight an op reads, and for the loss;
* an arrow for every tensor from the box that made it to the box that read it, labelled with the
  tensor's shape, the norm of its forward value ``|y|`` and the norm of its gradient ``|dy|``
  (dL/dy, from the backward pass);
* where one tensor feeds two boxes (the image in ``examples/two_branch.py``), a ``+`` box: each
  reader sends back its own gradient, and the tensor's gradient is their sum, the multivariable
  chain rule ``dL/dx = dL/dx|_a + dL/dx|_b``.

With softmax + cross-entropy the loss hands dL/dz = (p - y) / N to the output layer's logits z
(``scratchnet.losses.ActivationWithLoss``), so the arrow into the loss carries ``|dz|``, not
``|dy|``, and says so.

Norms are L2 (Frobenius) norms of the whole batch's tensor, computed in float64.

Policies:
    what runs: ``model.forward(x, training=True)`` and the compiled loss's backward, as in
        ``train_on_batch`` without the optimizer step. The layers' ``grads`` hold this step's
        gradients afterwards (as after ``compute_loss_and_gradients``); the random streams of
        the model's layers (Dropout's) are put back, so the next ``fit`` draws what it would have.
    inputs' gradients: the drawing asks backward for dL/d(input) too (training never needs it),
        through the tape's ``kept`` dict; nothing is kept when no drawing is asked for.

Example:
    >>> import numpy as np
    >>> from scratchnet import Input, Sequential, layers
    >>> model = Sequential([Input((3,)), layers.Dense(2, name="d"), layers.Softmax(name="s")])
    >>> model.compile(loss="categorical_crossentropy")
    >>> drawing = draw_tape(model, np.ones((4, 3)), np.eye(2)[[0, 1, 0, 1]])
    >>> [box.title for box in drawing.boxes]
    ['input', 'd (Dense)', 's (Softmax)', 'loss']
    >>> drawing.edges[0].shape
    (4, 3)
    >>> drawing.svg.startswith("<svg")
    True
"""

import html
from dataclasses import dataclass, field

import numpy as np

from .layers import calling
from .ops.core import Tensor, Variable, convert_to_tensor
from .random import SeedGenerator


@dataclass
class Box:
    """A node of the drawing: the input, a layer call, an op, a weight, a sum, or the loss."""

    index: int
    kind: str  # 'input', 'layer', 'op', 'weight', 'sum', 'loss'
    title: str  # 'conv2d (Conv2D)', 'add', 'input', 'loss', '+'
    lines: list = field(default_factory=list)  # more text: each weight's norms, the loss value
    depth: int = 0  # the row it is drawn in: one below the lowest box it reads from


@dataclass
class Edge:
    """A tensor going from one box to another, with the norms of its value and its gradient."""

    source: int
    target: int
    shape: tuple
    value_norm: float
    grad_norm: float  # nan: no gradient reaches it
    grad_name: str = "dy"  # 'dz' on the arrow into a fused softmax + cross-entropy loss
    grad: object = field(default=None, repr=False)  # the gradient itself (an array, or None)


def norm(a):
    """The L2 norm of a whole array, in float64 (nan for None: no gradient)."""
    if a is None:
        return float("nan")
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64).ravel()))


def draw_tape(model, x, y):
    """Draw one training step of ``model`` on the batch ``(x, y)`` (see the module docstring).

    Args:
        model: a compiled Sequential, Functional or subclassed model (the loss is its own).
        x: one batch of inputs, (N, ...); keep it small: every tensor of the step is kept.
        y: the batch's targets, as ``fit`` takes them.

    Returns:
        TapeDrawing: ``.boxes`` and ``.edges``; ``.svg``; in a notebook it shows itself.

    Raises:
        RuntimeError: the model is not compiled (the drawing needs its loss).
    """
    model._require_compiled("draw_tape")
    x, y = model._check_xy(x, y, "draw_tape")
    generators = [(g, g.state.copy()) for g in _seed_generators(model)]
    try:
        if model.RECORDS_LAYER_CALLS:
            graph = _run_tape(model, x, y)
        else:
            graph = _run_ops(model, x, y)
    finally:
        for generator, state in generators:
            generator.state[...] = state
        model._tape = model._output = None
    return graph


def _seed_generators(model):
    found = []
    for layer in _all_layers(model):
        found += [v for v in vars(layer).values() if isinstance(v, SeedGenerator)]
    return found


def _all_layers(layer, seen=None):
    seen = set() if seen is None else seen
    if id(layer) in seen:
        return []
    seen.add(id(layer))
    out = [layer]
    for sub in getattr(layer, "layers", None) or getattr(layer, "_layers", None) or []:
        out += _all_layers(sub, seen)
    return out


def _loss_title(model, loss_value, fused):
    name = getattr(model.loss, "name", type(model.loss).__name__)
    lines = [f"{name} = {float(loss_value):.4g}"]
    if fused:
        lines.append("fused with the output activation: the arrow in carries dL/dz")
    return lines


# ----------------------------------------------------------------------- Sequential, Functional


def _run_tape(model, x, y):
    """Forward on a Tape, backward keeping every gradient; the tape's nodes become boxes."""
    y_pred = model.forward(x, training=True)
    tape = model._tape
    tape.kept = {}
    fused = model._fused_loss(tape, y_pred) is not None
    loss_value = model._backprop_loss(y, y_pred)
    kept, nodes = tape.kept, tape.nodes
    drawing = TapeDrawing(float(loss_value))
    made_by = {}  # id(tensor) -> box index
    readers = {}  # id(tensor) -> [(box index, gradient it sent back)]
    arrays = {}  # id(tensor) -> the array
    (source,) = [t for t in tape.known.values() if id(t) in tape.sources]
    made_by[id(source)] = drawing.add("input", "input").index
    arrays[id(source)] = source
    for n, node in enumerate(nodes):
        box = drawing.add("layer", f"{node.layer.name} ({type(node.layer).__name__})")
        box.lines = _weight_lines(node.layer)
        for i, t in enumerate(node.inputs):
            readers.setdefault(id(t), []).append((box.index, kept.get((n, i))))
        for t in node.output if isinstance(node.output, list) else [node.output]:
            made_by[id(t)], arrays[id(t)] = box.index, t
    loss = drawing.add("loss", "loss", _loss_title(model, loss_value, fused))
    readers.setdefault(id(y_pred), []).append((loss.index, None))
    for key, producer in made_by.items():
        drawing.connect(producer, arrays[key], kept.get(key), readers.get(key, []))
    drawing.edge_into(loss.index).grad_name = "dz" if fused else "dy"
    return drawing.finish()


def _weight_lines(layer):
    """'kernel (3, 3, 1, 32)  |w| 2.1  |dw| 0.05' for each weight of a layer."""
    params, grads = getattr(layer, "params", {}), getattr(layer, "grads", {})
    return [
        f"{name} {tuple(w.shape)}  |w| {norm(w):.3g}  |dw| {norm(grads.get(name)):.3g}"
        for name, w in params.items()
    ]


# ----------------------------------------------------------------------- subclassed models


def _run_ops(model, x, y):
    """A subclassed model: ``call`` on Tensors (the input one requires a gradient, so backward
    reaches it), backward keeping every gradient; the recorded Tensors become boxes."""
    x = model._prepare_x(x)
    with calling.running(True), calling.one_step():
        x_in = Tensor(x, requires_grad=True)
        out = convert_to_tensor(calling.invoke(model, [x_in], {}, True))
    model._tape, model._output = calling.OpsGraph(out, model), out.value
    model._tape.kept = kept = {}
    fused = model._fused_loss(model._tape, out.value) is not None
    loss_value = model._backprop_loss(y, out.value)
    if fused:  # backward started from a twin of ``out`` that backprops from the logits
        (twin,) = [
            t for key, (t, *_) in kept.items()
            if not isinstance(key, tuple) and t is not out and t.value is out.value
        ]  # fmt: skip
        kept[id(out)] = (out, kept[id(twin)][1])
        for i in range(len(out.parents)):
            kept[(id(out), i)] = kept.get((id(twin), i))

    tensors = _graph_tensors(out)
    drawing = TapeDrawing(float(loss_value))
    made_by, readers = {}, {}
    for t in tensors:
        if t is x_in:
            box = drawing.add("input", "input")
        elif isinstance(t, Variable):
            box = drawing.add("weight", t.path or t.name or "weight")
        elif t.parents:
            box = drawing.add(*_op_title(t))
            if t.layer is not None and t.backward is not None and "layer_op" in _owner(t):
                box.lines = _weight_lines(t.layer)
        else:
            continue
        made_by[id(t)] = box.index
        for i, parent in enumerate(t.parents):
            if parent.requires_grad:
                readers.setdefault(id(parent), []).append((box.index, kept.get((id(t), i))))
    loss = drawing.add("loss", "loss", _loss_title(model, loss_value, fused))
    readers.setdefault(id(out), []).append((loss.index, None))
    for t in tensors:
        if id(t) in made_by:
            grad = kept.get(id(t), (None, None))[1]
            drawing.connect(made_by[id(t)], t.value, grad, readers.get(id(t), []))
    drawing.edge_into(loss.index).grad_name = "dz" if fused else "dy"
    return drawing.finish()


def _graph_tensors(out):
    """Every Tensor that needs a gradient under ``out``, each after its parents (creation order)."""
    seen, stack = {}, [out]
    while stack:
        t = stack.pop()
        if id(t) in seen or not t.requires_grad:
            continue
        seen[id(t)] = t
        stack.extend(t.parents)
    return sorted(seen.values(), key=lambda t: t.serial)


def _owner(t):
    return getattr(t.backward, "__qualname__", "")


def _op_title(t):
    """('layer', 'conv2d (Conv2D)') for a built-in layer's call, ('op', 'add') for an op."""
    qualname = _owner(t)
    if t.layer is not None and "layer_op" in qualname:
        return "layer", f"{t.layer.name} ({type(t.layer).__name__})"
    if t.layer is not None:  # one output of a layer with several (an LSTM's state)
        return "op", f"{t.layer.name}: one output"
    return "op", qualname.split(".")[0] or "op"


# ----------------------------------------------------------------------- the picture


CHAR_W, LINE_H, GAP_X, GAP_Y = 6.7, 15, 60, 70  # pixels (11 px monospace)
COLOURS = {
    "input": "#dbeafe",
    "layer": "#fef3c7",
    "op": "#ede9fe",
    "weight": "#dcfce7",
    "sum": "#fee2e2",
    "loss": "#e5e7eb",
}


class TapeDrawing:
    """What ``draw_tape`` drew: ``boxes``, ``edges``, the batch ``loss``, and the ``svg``.

    In a notebook the drawing shows itself (``_repr_html_``); ``save(path)`` writes an HTML page;
    ``print(drawing)`` lists the arrows as text.
    """

    def __init__(self, loss):
        self.loss = loss
        self.boxes, self.edges = [], []

    def add(self, kind, title, lines=()):
        box = Box(len(self.boxes), kind, title, list(lines))
        self.boxes.append(box)
        return box

    def connect(self, producer, array, grad, readers):
        """The arrows of one tensor: straight to its reader, or through a ``+`` box when it has
        several (each arrow out of the ``+`` carries what that reader sent back)."""
        shape, value = tuple(np.shape(array)), norm(array)
        if len(readers) <= 1:
            for target, _ in readers:
                self.edges.append(Edge(producer, target, shape, value, norm(grad), grad=grad))
            return
        total = self.add("sum", "+", [f"dL/dy = sum of {len(readers)} gradients"])
        self.edges.append(Edge(producer, total.index, shape, value, norm(grad), grad=grad))
        for target, sent in readers:
            self.edges.append(Edge(total.index, target, shape, value, norm(sent), grad=sent))

    def edge_into(self, target):
        (edge,) = [e for e in self.edges if e.target == target]
        return edge

    def finish(self):
        """Place each box one row below the lowest box it reads from (its depth).

        The boxes are not in a reading order (a ``+`` box is added after its readers), so the
        depths are relaxed along the arrows until none moves: at most one pass per box.
        """
        for _ in range(len(self.boxes)):
            moved = False
            for e in self.edges:
                if self.boxes[e.target].depth < self.boxes[e.source].depth + 1:
                    self.boxes[e.target].depth = self.boxes[e.source].depth + 1
                    moved = True
            if not moved:
                break
        return self

    def __str__(self):
        lines = [f"one training step, loss {self.loss:.4g}"]
        for e in self.edges:
            a, b = self.boxes[e.source].title, self.boxes[e.target].title
            lines.append(
                f"{a} -> {b}: {e.shape}  |y| {e.value_norm:.3g}  |{e.grad_name}| {e.grad_norm:.3g}"
            )
        return "\n".join(lines)

    # -- SVG --------------------------------------------------------------------------------

    def _layout(self):
        """{box index: (x, y, height)}, the box width and the picture's size. Rows by depth; in
        a row each box goes under the mean of the boxes it reads from, pushed right of its
        neighbour when they would overlap."""
        box_w = max(180, CHAR_W * max(len(t) for b in self.boxes for t in [b.title, *b.lines]))
        box_w += 16
        sources = {}
        for e in self.edges:
            sources.setdefault(e.target, []).append(e.source)
        rows = {}
        for box in self.boxes:
            rows.setdefault(box.depth, []).append(box)
        place, top = {}, 20.0
        for depth in sorted(rows):
            wanted = {
                b.index: np.mean([place[s][0] for s in sources.get(b.index, [])] or [0.0])
                for b in rows[depth]
            }
            row = sorted(rows[depth], key=lambda b: wanted[b.index])
            xs = []
            for b in row:
                xs.append(
                    wanted[b.index] if not xs else max(wanted[b.index], xs[-1] + box_w + GAP_X)
                )
            shift = np.mean([wanted[b.index] for b in row]) - np.mean(xs)  # keep the row centred
            for b, x in zip(row, xs):
                place[b.index] = (x + shift, top, self._height(b))
            top += max(self._height(b) for b in row) + GAP_Y
        left = min(x for x, _, _ in place.values())
        place = {i: (x - left + GAP_X, y, h) for i, (x, y, h) in place.items()}
        width = max(x for x, _, _ in place.values()) + box_w + GAP_X
        return place, box_w, width, top

    @staticmethod
    def _height(box):
        return LINE_H * (1 + len(box.lines)) + 12

    @property
    def svg(self):
        place, box_w, width, height = self._layout()
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="tape" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            'font-family="monospace" font-size="11">',
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
            "</defs>",
        ]
        for e in self.edges:
            out.append(self._edge_svg(e, place, box_w))
        for box in self.boxes:
            out.append(self._box_svg(box, *place[box.index], box_w))
        out.append("</svg>")
        return "\n".join(out)

    def _edge_svg(self, e, place, box_w):
        sx, sy, sh = place[e.source]
        tx, ty, _ = place[e.target]
        x1, y1, x2, y2 = sx + box_w / 2, sy + sh, tx + box_w / 2, ty
        mid = (y1 + y2) / 2
        right = x2 >= x1  # the label goes on the outer side of the curve
        lx, anchor = (x1 + x2) / 2 + (6 if right else -6), "start" if right else "end"
        label = [str(e.shape), f"|y| {e.value_norm:.3g}  |{e.grad_name}| {e.grad_norm:.3g}"]
        spans = "".join(
            f'<tspan x="{lx:.1f}" dy="{dy}">{html.escape(t)}</tspan>'
            for dy, t in zip((0, LINE_H), label)
        )
        return (
            f'<g class="edge" data-source="{e.source}" data-target="{e.target}">'
            f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} '
            f'{x2:.1f},{y2:.1f}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
            f'<text y="{mid - 4:.1f}" text-anchor="{anchor}" fill="#333" stroke="#fff" '
            f'stroke-width="3" paint-order="stroke">{spans}</text></g>'
        )

    def _box_svg(self, box, x, y, h, box_w):
        text = [f'<tspan x="{x + 8:.1f}" dy="{LINE_H}" font-weight="bold">'
                f"{html.escape(box.title)}</tspan>"]  # fmt: skip
        text += [
            f'<tspan x="{x + 8:.1f}" dy="{LINE_H}">{html.escape(line)}</tspan>'
            for line in box.lines
        ]
        return (
            f'<g class="box {box.kind}" data-index="{box.index}">'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w:.0f}" height="{h}" rx="6" '
            f'fill="{COLOURS[box.kind]}" stroke="#444"/>'
            f'<text y="{y + 2:.1f}">{"".join(text)}</text></g>'
        )

    def _repr_html_(self):
        return f'<div style="overflow:auto">{self.svg}</div>'

    def html(self, title="scratchnet: the tape, drawn"):
        """A whole HTML page showing the drawing."""
        return (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body>\n<h1>{html.escape(title)}</h1>\n{self.svg}\n</body></html>\n"
        )

    def save(self, path):
        """Write the page (``html()``) to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html())
