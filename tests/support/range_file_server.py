"""A plain file server on loopback for download tests: the outside world a worker fetches a model
from. Serves the files of a folder, honours `Range: bytes=N-` (206) as web servers and CDNs do,
and appends one line per request ("GET /path range=...") to a log the test reads.

usage: range_file_server.py <folder> <port> <log file>
"""
import http.server
import os
import sys

FOLDER, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        rng = self.headers.get("Range", "")
        with open(LOG, "a") as log:
            log.write(f"GET {self.path} range={rng}\n")
        path = os.path.join(FOLDER, os.path.basename(self.path.split("?")[0]))
        if not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        start = 0
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
