"""The lab's backend Pod: answers every HTTP GET on port 8080 with the name of its node
(the NODE_NAME environment variable, set from the Pod's fieldRef), as the process-based
lab's backends do, so that a client sees which node served it (the Pod's name is in the
X-Pod header). Standard library only: the
lab-web image is the Debian base with this file, no pip."""

import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        pod = os.environ.get("POD_NAME") or socket.gethostname()
        node = os.environ.get("NODE_NAME", "unknown")
        body = f"{node}\n".encode()
        self.send_response(200)
        self.send_header("X-Pod", pod)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class DualStackServer(ThreadingHTTPServer):
    # "::" takes IPv4 clients too (as mapped addresses).
    address_family = socket.AF_INET6


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    try:
        server: ThreadingHTTPServer = DualStackServer(("::", port), Handler)
    except OSError:  # a kernel or Pod without IPv6
        server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.serve_forever()
