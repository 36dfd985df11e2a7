"""``plot_model`` and ``model_to_dot``: a model's graph drawn with Graphviz, as Keras draws it.

Each layer is one box, an HTML table with the layer's name and class in its black header row,
then optionally its activation, its input and output shapes, its output dtype and whether it
trains; an arrow goes from each layer to each layer that reads its output. The boxes, the labels
and the graph's settings are Keras's (``keras/src/utils/model_visualization.py``, 3.15), so the
same model gives the same dot source with either library (``parity_tests/test_plot_model.py``
compares them, the node ids aside: both use ``id(layer)``).

With ``expand_nested``, a nested Sequential or Functional model is a dashed cluster of its own
layers, and the arrows go to and from the layers inside it.

Needs pydot (``pip install scratchnet[plot]``) and Graphviz's ``dot`` program (a system
package: ``apt-get install graphviz``; ``scripts/install-graphviz.sh`` does it for ``make
test``); ``plot_model`` says which one is missing.

Example:
    >>> from scratchnet import Input, layers, models
    >>> x = Input((4,), name="pixels")
    >>> model = models.Model(x, layers.Dense(2, name="logits")(x))
    >>> dot = model_to_dot(model, show_shapes=True)  # doctest: +SKIP
    >>> plot_model(model, "model.png", show_shapes=True)  # doctest: +SKIP
"""

import os


def _pydot():
    try:
        import pydot
    except ImportError:
        raise ImportError(
            "You must install pydot (`pip install pydot`, or `pip install scratchnet[plot]`) "
            "for plot_model and model_to_dot to work."
        ) from None
    return pydot


def _check_graphviz(pydot):
    """Graphviz's ``dot`` program draws the image; pydot only writes its input."""
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, pydot.PydotException):
        raise ImportError(
            "You must install graphviz, the program that draws the graph (the system package "
            "`graphviz`: `apt-get install graphviz`, `brew install graphviz`; see "
            "https://graphviz.org/download/), for plot_model to work."
        ) from None


def _is_graph_model(layer, kind=("Sequential", "Functional")):
    """Whether ``layer`` is a Sequential or Functional model (or of ``kind``)."""
    from .saving import registry  # (here: scratchnet.saving imports scratchnet.utils)

    return registry.is_instance(layer, *([kind] if isinstance(kind, str) else kind))


def _shape_text(tensors):
    """A shape as Keras writes it in a label: the tuple, or a list of tuples."""
    if isinstance(tensors, (list, tuple)):
        return str([tuple(t.shape) for t in tensors])
    return str(tuple(tensors.shape))


def _activation_name(activation):
    return getattr(activation, "name", None) or getattr(activation, "__name__", str(activation))


def _label(
    layer, show_layer_names, show_layer_activations, show_dtype, show_shapes, show_trainable
):
    """The box of one layer: Keras's HTML table (``make_layer_label``)."""
    class_name = type(layer).__name__
    colspan = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    title = f"<b>{layer.name}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>"
    table = '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
    table += (
        f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">'
        f"{title}</font></td></tr>"
    )
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        table += (
            f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
            f"Activation: <b>{_activation_name(layer.activation)}</b></font></td></tr>"
        )
    cells = []
    if show_shapes:
        try:
            shapes = _shape_text(layer.input), _shape_text(layer.output)
        except (AttributeError, ValueError):
            shapes = "?", "?"
        if class_name != "InputLayer":
            cells.append(f"Input shape: <b>{shapes[0]}</b>")
        cells.append(f"Output shape: <b>{shapes[1]}</b>")
    cells = [f'<td bgcolor="white"><font point-size="14">{c}</font></td>' for c in cells]
    if show_dtype:
        try:
            out = layer.output
            dtype = [str(t.dtype) for t in out] if isinstance(out, list) else str(out.dtype)
        except (AttributeError, ValueError):
            dtype = None
        cells.append(
            '<td bgcolor="white"><font point-size="14">'
            f"Output dtype: <b>{dtype or '?'}</b></font></td>"
        )
    if show_trainable and layer.weights:
        color, text = (
            ("forestgreen", "Trainable") if layer.trainable else ("firebrick", "Non-trainable")
        )
        cells.append(
            f'<td bgcolor="{color}"><font point-size="14" color="white"><b>{text}</b></font></td>'
        )
    if cells:
        table += f"<tr>{''.join(cells)}</tr>"
    return table + "</table>>"


def _add_edge(dot, pydot, source, destination):
    src, dst = str(id(source)), str(id(destination))
    if not dot.get_edge(src, dst):
        edge = pydot.Edge(src, dst)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def _producer(t):
    """The layer whose call made the symbolic tensor ``t`` (an InputLayer for an input)."""
    return t.layer if t.layer is not None else t.input_layer


def _source(layer, index):
    """The box an arrow from ``layer``'s output ``index`` starts at: inside a nested model, the
    layer that makes that output."""
    while _is_graph_model(layer):
        t = layer.outputs[index]
        layer, index = _producer(t), t.index
    return layer


def _destination(layer, index):
    """The box an arrow into ``layer``'s input ``index`` ends at: a nested Functional model's
    InputLayer, a nested Sequential model's first layer."""
    while _is_graph_model(layer):
        if _is_graph_model(layer, "Functional"):
            layer = layer.inputs[index].input_layer
        else:
            layer = layer.layers[0]
    return layer


def model_to_dot(
    model,
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    subgraph=False,
    show_layer_activations=False,
    show_trainable=False,
    splines="ortho",
):
    """The model's graph as a ``pydot.Dot`` (a ``pydot.Cluster`` with ``subgraph``), as Keras's
    ``keras.utils.model_to_dot``. Arguments: see ``plot_model``."""
    pydot = _pydot()
    if not model.built:
        raise ValueError(
            f"model_to_dot: model '{model.name}' has not yet been built. Build the model first "
            "by calling it on a batch of data, or start it with scratchnet.Input(shape)."
        )
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    options = dict(
        show_layer_names=show_layer_names,
        show_layer_activations=show_layer_activations,
        show_dtype=show_dtype,
        show_shapes=show_shapes,
        show_trainable=show_trainable,
    )

    def node(layer):
        box = pydot.Node(str(id(layer)), label=_label(layer, **options))
        box.set("fontname", "Helvetica")
        box.set("border", "0")
        box.set("margin", "0")
        return box

    if not _is_graph_model(model):  # a subclassed model is one box, as in Keras
        dot.add_node(node(model))
        return dot
    layers = model.layers
    for layer in layers:
        if expand_nested and _is_graph_model(layer):
            dot.add_subgraph(
                model_to_dot(
                    layer,
                    show_shapes,
                    show_dtype,
                    show_layer_names,
                    rankdir,
                    expand_nested,
                    subgraph=True,
                    show_layer_activations=show_layer_activations,
                    show_trainable=show_trainable,
                )
            )
        else:
            dot.add_node(node(layer))
    if _is_graph_model(model, "Sequential"):  # each layer reads the one before it
        for first, second in zip(layers, layers[1:]):
            if expand_nested:
                first, second = _source(first, 0), _destination(second, 0)
            _add_edge(dot, pydot, first, second)
        return dot
    for layer in layers:  # a Functional model: each call's inputs, in this model only
        for call in model._calls.get(id(layer), ()):
            for index, t in enumerate(call.inputs):
                source, destination = _producer(t), layer
                if expand_nested:
                    source, destination = _source(source, t.index), _destination(layer, index)
                _add_edge(dot, pydot, source, destination)
    return dot


def plot_model(
    model,
    to_file="model.png",
    show_shapes=False,
    show_dtype=False,
    show_layer_names=False,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
    splines="ortho",
):
    """Draw the model's graph into an image file, as ``keras.utils.plot_model``.

    Args:
        model: a built model (a subclassed model is drawn as one box, as in Keras).
        to_file: the image file; its extension is the format (``.png``, ``.svg``, ``.pdf``,
            ``.dot``, ...; none: png).
        show_shapes: show each layer's input and output shapes.
        show_dtype: show each layer's output dtype.
        show_layer_names: show each layer's name with its class (Keras 3.15's default is
            False here, True in ``model_to_dot``).
        rankdir: "TB" (top to bottom) or "LR" (left to right).
        expand_nested: draw a nested model's layers in a dashed cluster.
        dpi: the image's resolution.
        show_layer_activations: show the activation of the layers that have one.
        show_trainable: say which layers with weights train.
        splines: how Graphviz draws the arrows ("ortho": right angles, "spline", "line", ...).

    Returns:
        an ``IPython.display.Image`` of a png or jpeg file when IPython is installed, else
        None.
    """
    pydot = _pydot()
    _check_graphviz(pydot)
    dot = model_to_dot(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        expand_nested=expand_nested,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
        splines=splines,
    )
    to_file = str(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    if extension in ("png", "jpg", "jpeg"):  # (Keras tries any but pdf: IPython refuses svg)
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None
