"""A tritonserver stand-in for bench/h100/serve_bench.py: takes tritonserver's flags, answers on
--http-address:--http-port like a Triton serving resnet50 (ready paths, and /infer with 1000 FP32
values through the binary tensor extension). Writes its pid to $STANDIN_PID_DIR; stops on TERM."""
from __future__ import annotations

import json
import os
import signal
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "resnet50"
VALUES = struct.pack("1000f", *(i / 1000 for i in range(1000)))


class Triton(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive, as loadgen and Envoy use it

    def do_GET(self):
        ready = self.path in ("/v2/health/ready", f"/v2/models/{MODEL}/ready")
        self._reply(200 if ready else 404, b"", {})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != f"/v2/models/{MODEL}/infer":
            self._reply(404, b"", {})
            return
        header = json.dumps({"model_name": MODEL, "outputs": [{"name": "OUTPUT__0", "datatype": "FP32",
                             "shape": [1000], "parameters": {"binary_data_size": len(VALUES)}}]}).encode()
        self._reply(200, header + VALUES, {"Inference-Header-Content-Length": str(len(header))})

    def _reply(self, status, body, headers):
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(argv: list[str]) -> None:
    flags = dict(a.removeprefix("--").split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    server = ThreadingHTTPServer((flags["http-address"], int(flags["http-port"])), Triton)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(os.path.join(os.environ["STANDIN_PID_DIR"], f"{os.getpid()}.pid"), "w") as f:
        f.write(" ".join(argv))
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
