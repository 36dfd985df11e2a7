"""A local web page that draws the tape of one training step (``scratchnet.utils.draw_tape``).

Choose a model, and the page shows what one training step on eight MNIST images records: a box
per layer call (or op, for a subclassed model), each arrow a tensor with its shape and the norms
of its value and its gradient, and a ``+`` box where a tensor feeds two layers and receives the
sum of their gradients (the two-branch models). "Train one step" applies the optimizer's update
and draws the next step, so the norms move as the model learns.

    python examples/tape/app.py                  # serve http://127.0.0.1:8001/
    python -m examples.tape.app                  # the same, run as a module
    python examples/tape/app.py --port 0         # any free port

The server is Python's standard ``http.server``, as the drawing app's (``examples/draw``): GET
serves the page, POST /tape draws (JSON in, JSON out), POST /quit (the page's Esc key) stops it.
It listens on 127.0.0.1. The models are untrained, built with seed 0 on first use.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples import common

STATIC = Path(__file__).parent / "static"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
BATCH = 8  # the first eight MNIST training images: a drawing keeps every tensor of the step


def build(name):
    """A compiled model and its batch ``(x, y)``: one of ``MODELS``."""
    import scratchnet
    from examples import two_branch
    from examples.compare import PROGRAMS
    from keras_impl.architectures import build as build_tutorial

    scratchnet.utils.set_random_seed(0)
    (x_train, y_train), _ = common.load_mnist()
    y = scratchnet.utils.to_categorical(y_train[:BATCH], 10)
    if name == "two_branch":
        model = two_branch.functional_model(scratchnet)
    elif name == "two_branch_subclassed":
        model = two_branch.subclassed_model(scratchnet)
    else:
        model = build_tutorial(name, scratchnet)
    program = two_branch if name.startswith("two_branch") else PROGRAMS[name]
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model, program.prepare_images(x_train[:BATCH]), y


MODELS = {
    "two_branch": "two-branch CNN, Functional (examples/two_branch.py)",
    "two_branch_subclassed": "two-branch CNN, subclassed Model",
    "convnet": "keras.io convnet (examples/keras_convnet.py)",
    "torres": "Torres's MLP (examples/torres_mlp.py)",
}


class Tapes:
    """The models, built on first use, and how many steps each has trained."""

    def __init__(self):
        self.models, self.steps = {}, {}
        self.lock = threading.Lock()  # one step at a time: layers keep per-call state

    def draw(self, name, train):
        from scratchnet.utils import draw_tape

        if name not in MODELS:
            return {"error": f"No model {name!r}; choose one of {sorted(MODELS)}."}
        with self.lock:
            if name not in self.models:
                self.models[name], self.steps[name] = build(name), 0
            model, x, y = self.models[name]
            if train:
                model.train_on_batch(x, y)
                self.steps[name] += 1
            drawing = draw_tape(model, x, y)
        return {
            "model": name,
            "step": self.steps[name],
            "loss": drawing.loss,
            "svg": drawing.svg,
            "text": str(drawing),
        }


def make_handler(tapes):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/models":
                self.reply(200, json.dumps(MODELS).encode(), "application/json")
                return
            if self.path not in FILES:
                self.send_error(404)
                return
            name, content_type = FILES[self.path]
            self.reply(200, (STATIC / name).read_bytes(), content_type)

        def do_POST(self):
            if self.path == "/quit":
                self.reply(200, b"{}", "application/json")
                threading.Thread(target=self.server.shutdown).start()
            elif self.path == "/tape":
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = tapes.draw(request.get("model"), bool(request.get("train")))
                self.reply(200, json.dumps(answer).encode(), "application/json")
            else:
                self.send_error(404)

        def reply(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass  # keep the terminal for the address and errors

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Tapes()))
    host, port = server.server_address[:2]
    print(f"Drawing the tape at http://{host}:{port}/", flush=True)
    print("Choose a model; T trains one step, Esc stops the server.", flush=True)
    with server:
        server.serve_forever()
    print("Stopped.")


if __name__ == "__main__":
    main()
