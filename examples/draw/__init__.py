"""Draw a digit in the browser and watch a trained scratchnet model read it.

python examples/seminar_cnn.py          # train and save the model first
python examples/draw/app.py             # then open the address it prints
python -m examples.draw.app             # the same, run as a module
"""
