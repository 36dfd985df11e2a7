"""The tape, drawn, in the browser: one training step of a model as a graph.

python examples/tape/app.py             # serve http://127.0.0.1:8001/
python -m examples.tape.app             # the same, run as a module
"""
