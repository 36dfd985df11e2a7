"""The five classic Keras MNIST tutorials, run on scratchnet (default) or on Keras.

Run each from the repository root, as a file or as a module: the same program either way. From
another folder, give the file's path (``python path/to/examples/keras_convnet.py``)::

    python examples/keras_convnet.py                # scratchnet
    python -m examples.keras_convnet                # the same, run as a module
    python examples/keras_convnet.py --impl keras   # the same program on Keras
    python examples/compare.py --program convnet    # both, side by side
    python examples/draw/app.py                     # draw a digit, watch the network read it

Run as a file, Python puts the script's own folder on ``sys.path``, not the repository, so
``examples`` and ``keras_impl`` would not import. Each script therefore starts, just before its
project imports, with the same two-line bootstrap: ``if not __package__`` (true only when run as a
file) it inserts the repository, the folder above ``examples/``, at the front of ``sys.path``.
Run with ``-m`` or imported, it does nothing. Nothing else touches ``sys.path``.
"""
