"""Static files over HTTPS, as `python3 -m http.server` serves them over HTTP (stdlib only, run as a
script by lab.public_mirror):

    python3 https_server.py DIR ADDRESS PORT CERT KEY
"""
from __future__ import annotations

import functools
import http.server
import ssl
import sys


class _Handler(http.server.SimpleHTTPRequestHandler):
    timeout = 60        # a client that stops talking frees its thread


def serve(root: str, address: str, port: int, cert: str, key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):
            # the TLS handshake runs in the request's thread, so a slow client never blocks accept()
            sock, peer = self.socket.accept()
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), peer

        def handle_error(self, request, client_address):
            print(f"{client_address[0]}: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)

    with Server((address, port), functools.partial(_Handler, directory=root)) as server:
        server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
