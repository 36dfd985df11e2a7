"""A local web page to draw a digit on and see what a trained scratchnet model makes of it.

The seminar tutorial ends with a Tk window: draw, press Enter to predict, C to clear, Esc to quit.
This is that app in the browser, plus what the network sees: the 28x28 image it is given, the 10
probabilities as bars and, for a CNN, the feature maps of every conv layer.

    python examples/seminar_cnn.py                       # train and save runs/seminar/scratchnet/
    python examples/draw/app.py                          # serve http://127.0.0.1:8000/
    python -m examples.draw.app                          # the same, run as a module
    python examples/draw/app.py --program convnet        # any example's saved model
    python examples/draw/app.py --model path/to/model.keras --program convnet --port 0

The model is loaded with scratchnet, which also reads the .keras files the ``--impl keras`` runs
save, so the same page shows a Keras-trained model's answer and feature maps.

The server is Python's standard ``http.server``: GET serves the page, POST /predict takes the
drawing and answers with JSON, POST /quit (the page's Esc key) stops it. It listens on 127.0.0.1.
The drawing is preprocessed the MNIST way (``examples.draw.preprocess``), then prepared exactly as
the chosen program prepares its training images, so the model sees what it was trained on.

``ThreadingHTTPServer`` answers each request on a thread of its own, and they all share one
model, with no lock: scratchnet's inference keeps nothing on the layers, so predictions from
many threads at once are the serial ones bit for bit (README, "Thread safety";
tests/test_threads.py). An earlier version needed a lock here.
"""

import argparse
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: put the repository on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples import common
from examples.compare import PROGRAMS
from examples.draw.preprocess import to_mnist

STATIC = Path(__file__).parent / "static"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}


def as_bytes(maps):
    """Feature maps (H, W, C) as one base64 string of uint8, channel by channel, each 0-255."""
    low = maps.min(axis=(0, 1), keepdims=True)  # (1, 1, C)
    span = maps.max(axis=(0, 1), keepdims=True) - low  # (1, 1, C)
    scaled = (maps - low) / np.where(span > 0, span, 1) * 255  # (H, W, C)
    channels_first = np.transpose(scaled, (2, 0, 1)).round().astype(np.uint8)  # (C, H, W)
    return base64.b64encode(channels_first.tobytes()).decode("ascii")


class Predictor:
    """A saved model and its program's image preparation, answering drawings (from several
    threads at once: inference on one scratchnet model is thread-safe)."""

    def __init__(self, model_path, program):
        import scratchnet

        self.model = scratchnet.models.load_model(model_path)
        self.program = PROGRAMS[program]

    def predict(self, drawing):
        """The answer to a drawing (H, W) of ink in [0, 1]: digit, probabilities, feature maps."""
        digit = to_mnist(drawing)  # (28, 28) in [0, 255]
        if digit is None:
            return {"error": "Draw a digit first."}
        pixels = digit.round().astype(np.uint8)  # (28, 28), an MNIST image
        x = self.program.prepare_images(pixels[None])  # (1, ...), prepared as in training
        probabilities = np.asarray(self.model.predict(x, verbose=0))[0]  # (10,)
        maps = common.conv_feature_maps(self.model, x) if x.ndim == 4 else []
        return {
            "digit": int(np.argmax(probabilities)),
            "probabilities": [float(p) for p in probabilities],
            "input": [int(v) for v in pixels.ravel()],
            "layers": [
                {
                    "name": name,
                    "height": m.shape[0],
                    "width": m.shape[1],
                    "channels": m.shape[2],
                    "maps": as_bytes(m),
                }
                for name, m in maps
            ],
        }


def make_handler(predictor):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in FILES:
                self.send_error(404)
                return
            name, content_type = FILES[self.path]
            self.reply(200, (STATIC / name).read_bytes(), content_type)

        def do_POST(self):
            if self.path == "/quit":
                self.reply(200, b"{}", "application/json")
                threading.Thread(target=self.server.shutdown).start()
            elif self.path == "/predict":
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                pixels = np.frombuffer(base64.b64decode(request["pixels"]), dtype=np.uint8)
                drawing = pixels.reshape(request["height"], request["width"]) / 255  # (H, W)
                answer = json.dumps(predictor.predict(drawing)).encode()
                self.reply(200, answer, "application/json")
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
    parser.add_argument("--program", choices=tuple(PROGRAMS), default="seminar")
    parser.add_argument("--model", type=Path, help="default runs/<program>/scratchnet/model.keras")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)
    model_path = args.model or common.REPO / "runs" / args.program / "scratchnet" / "model.keras"
    if not model_path.exists():
        module = PROGRAMS[args.program].__name__
        parser.exit(1, f"No model at {model_path}. Train one first: python -m {module}\n")

    predictor = Predictor(model_path, args.program)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(predictor))
    host, port = server.server_address[:2]
    print(f"Serving the {args.program} model {model_path} at http://{host}:{port}/", flush=True)
    print("Draw a digit; Enter predicts, C clears, Esc stops the server.", flush=True)
    with server:
        server.serve_forever()
    print("Stopped.")


if __name__ == "__main__":
    main()
