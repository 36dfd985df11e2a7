"""The same models in Keras 3: architectures, weight transfer and Keras-side gradient helpers.

All TensorFlow/Keras-specific code of the project lives in this package. ``architectures`` imports
neither library, so the examples can build scratchnet models without Keras installed.
"""
