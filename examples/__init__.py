"""The five classic Keras MNIST tutorials, run on scratchnet (default) or on Keras.

Run each from the repository root as a module, so that ``scratchnet`` and ``keras_impl`` import
without path tricks::

    python -m examples.keras_convnet                # scratchnet
    python -m examples.keras_convnet --impl keras   # the same program on Keras
    python -m examples.compare --program convnet    # both, side by side
    python -m examples.draw.app                     # draw a digit, watch the network read it
"""
