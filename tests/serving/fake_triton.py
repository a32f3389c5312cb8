"""A Triton stand-in serving one model, run as its own process (python -m tests.serving.fake_triton NAME
MODEL): HTTP (ready and infer answer with its name) and gRPC (ModelInfer answers with its name as the
response id). Its own process, because grpc's server threads hang in a test process that pyinfra's CLI
has monkey-patched with gevent. Prints "HTTP_PORT GRPC_PORT" once both listen; stops when stdin closes."""
from __future__ import annotations

import json
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc


def serve(name: str, model: str) -> None:
    class Http(BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.path in ("/v2/health/ready", f"/v2/models/{model}/ready")
            self._reply(200 if ok else 404, b"")

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._reply(200, json.dumps({"backend": name, "path": self.path}).encode())

        def _reply(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Grpc(service_pb2_grpc.GRPCInferenceServiceServicer):
        def ModelInfer(self, request, context):
            return service_pb2.ModelInferResponse(model_name=request.model_name, id=name)

    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Grpc(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(http.server_address[1], port, flush=True)
    sys.stdin.read()            # until the test closes our stdin (or ends)
    http.shutdown()
    server.stop(0)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
