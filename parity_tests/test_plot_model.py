"""``plot_model`` / ``model_to_dot`` against Keras's: the same dot source for the same model.

Both libraries name a box by ``id(layer)``; the comparison puts each layer's name in place of
its id, then compares the whole dot text (every box's HTML table, every arrow, the clusters of
nested models and the graph's settings).
"""

import re
import sys

import pytest

import scratchnet
from keras_impl.architectures import build
from keras_impl.setup import keras
from parity_tests.test_nested_models import MODELS as NESTED
from parity_tests.test_shared_layers import dense_tower, siamese_conv

MODELS = {
    **NESTED,
    "dense_tower": dense_tower,
    "siamese_conv": siamese_conv,
    "convnet": lambda lib: build("convnet", lib),
}
OPTIONS = [
    {},
    {"show_shapes": True, "show_dtype": True},
    {"show_layer_names": False, "show_layer_activations": True, "show_trainable": True},
    {"expand_nested": True, "show_shapes": True, "rankdir": "LR", "dpi": 96},
    {"expand_nested": True, "show_trainable": True, "show_layer_activations": True},
]


def _every_layer(model):
    yield model
    for layer in getattr(model, "layers", []):
        yield from _every_layer(layer)


def dot_text(lib, model, **options):
    """``model_to_dot(model).to_string()`` with each box's id replaced by its layer's name."""
    text = lib.utils.model_to_dot(model, **options).to_string()
    names = {str(id(layer)): layer.name for layer in _every_layer(model)}
    return re.sub(r"\b\d{6,}\b", lambda m: f'"{names.get(m.group(0), m.group(0))}"', text)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_to_dot_equals_keras(name, options):
    keras.utils.clear_session()
    theirs = MODELS[name](keras)
    scratchnet.utils.clear_session()
    ours = MODELS[name](scratchnet)
    ours_text, theirs_text = (
        dot_text(scratchnet, ours, **options),
        dot_text(keras, theirs, **options),
    )
    assert ours_text == theirs_text, f"--- scratchnet\n{ours_text}\n--- keras\n{theirs_text}"


def test_plot_model_writes_the_image(tmp_path):
    model = NESTED["functional_of_both"](scratchnet)
    scratchnet.utils.plot_model(model, tmp_path / "model.png", show_shapes=True)
    assert (tmp_path / "model.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # (Graphviz 2.43's "ortho" splines can abort on clusters; Keras's plot fails there too)
    scratchnet.utils.plot_model(model, tmp_path / "model.svg", expand_nested=True, splines="spline")
    assert "<svg" in (tmp_path / "model.svg").read_text()


def test_without_pydot_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)  # import pydot raises ImportError
    model = NESTED["functional_of_both"](scratchnet)
    with pytest.raises(ImportError, match=r"pip install pydot.*scratchnet\[plot\]"):
        scratchnet.utils.plot_model(model, "unused.png")


def test_without_graphviz_the_error_says_what_to_install(monkeypatch, tmp_path):
    import pydot

    def no_dot_program(*args, **kwargs):
        raise FileNotFoundError("dot not found in path")

    monkeypatch.setattr(pydot.Dot, "create", no_dot_program)
    model = NESTED["functional_of_both"](scratchnet)
    with pytest.raises(ImportError, match=r"install graphviz.*apt-get install graphviz"):
        scratchnet.utils.plot_model(model, tmp_path / "model.png")
    assert not (tmp_path / "model.png").exists()


def test_an_unbuilt_model_cannot_be_drawn():
    model = scratchnet.Sequential([scratchnet.layers.Dense(2)], name="unbuilt")
    with pytest.raises(ValueError, match=r"'unbuilt' has not yet been built"):
        scratchnet.utils.model_to_dot(model)
