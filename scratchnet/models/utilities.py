"""What every model has besides training: finding layers, its symbolic inputs and outputs, and
saving, and its architecture as a config or JSON (``scratchnet.models.cloning`` reads them back).

``Model`` inherits these; they are here to keep ``model.py`` about the training engine.
"""

import json

from .. import saving


class ModelUtilities:
    """Keras's ``get_layer``, ``input``/``output``, saving, ``from_config`` and ``to_json``."""

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by ``index`` in ``model.layers``, as Keras's ``get_layer``."""
        if name is not None and index is not None:
            raise ValueError(
                f"Provide only a layer name or a layer index. Received: index={index}, name={name}."
            )
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(layers)} layers."
                )
            return layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or layer index at `get_layer`.")
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name}. Existing layers are: {[layer.name for layer in layers]}."
        )

    @property
    def input(self):
        """The symbolic input (a list if there are several), as Keras's ``model.input``."""
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self):
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from ``get_config()``'s dict: a Functional model's config (``layers``,
        ``input_layers``, ``output_layers``) gives a Functional model, as in Keras; any other
        goes to the class's ``__init__``."""
        if {"layers", "input_layers", "output_layers"} <= set(config):
            return cls.FUNCTIONAL.from_config(config, custom_objects)
        return cls(**config)

    def to_json(self, **kwargs):
        """The model's architecture (and compile settings) as JSON, as Keras's ``to_json``;
        ``scratchnet.models.model_from_json`` rebuilds it. ``kwargs`` go to ``json.dumps``."""
        return json.dumps(saving.serialize_model(self), **kwargs)

    # -- saving ------------------------------------------------------------------------------------

    def save(self, filepath):
        """Save architecture, weights, compile settings and optimizer state as a ``.keras`` file.

        The file is Keras's own format; the write is atomic (temporary file, then rename).
        """
        saving.save_model(self, filepath)

    def save_weights(self, filepath):
        """Save the weights alone as a Keras ``.weights.h5`` file (atomic)."""
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` (or Keras) into this built model."""
        saving.load_weights(self, filepath)

    def get_config(self):
        return {"name": self.name}
