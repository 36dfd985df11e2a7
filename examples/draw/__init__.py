"""Draw a digit in the browser and watch a trained scratchnet model read it.

python -m examples.seminar_cnn          # train and save the model first
python -m examples.draw.app             # then open the address it prints
"""
