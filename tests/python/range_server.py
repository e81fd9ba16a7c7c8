"""A static file server with HTTP Range support, for the end-to-end tests that point vigie at a
remote PMTiles archive: it lets a test prove vigie reads the archive by byte ranges, not whole.

Usage: range_server.py DIR

Serves the files of DIR on 127.0.0.1 at a port the OS chooses, prints exactly one line
{"port": N} on stdout once listening, then serves until killed. GET and HEAD; HTTP/1.1 with
keep-alive; every answer has Accept-Ranges: bytes, and files an ETag. A single range
(bytes=a-b, bytes=a-, bytes=-n) gets 206 with Content-Range and exactly those bytes; an
unsatisfiable one 416 with Content-Range: bytes */size; no Range header (or one this server
ignores, as RFC 9110 allows: several ranges, bad syntax) the whole file with 200.
GET /__stats answers {"requests": n, "ranges": n, "bytes": n, "paths": {path: {the same}}}:
requests answered (every method and status, /__stats excepted), how many of them were 206
answers, and the body bytes sent. Nothing is logged.
"""

import json
import mimetypes
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = None
LOCK = threading.Lock()
STATS = {"requests": 0, "ranges": 0, "bytes": 0, "paths": {}}


def count(path, partial, sent):
    with LOCK:
        per = STATS["paths"].setdefault(path, {"requests": 0, "ranges": 0, "bytes": 0})
        for s in (STATS, per):
            s["requests"] += 1
            s["ranges"] += partial
            s["bytes"] += sent


def parse_range(value, size):
    """(start, end inclusive), "unsatisfiable", or None when the header is to be ignored."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value or "")
    if not m or m.group(1) == m.group(2) == "":
        return None
    if m.group(1) == "":  # suffix: the last n bytes
        n = int(m.group(2))
        return (max(size - n, 0), size - 1) if n > 0 and size > 0 else "unsatisfiable"
    start = int(m.group(1))
    if m.group(2) and int(m.group(2)) < start:  # invalid (last before first): ignored
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(int(m.group(2)), size - 1) if m.group(2) else size - 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.answer(body=False)

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/__stats":
            with LOCK:
                data = json.dumps(STATS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.answer(body=True)

    def answer(self, body):
        path = urlsplit(self.path).path
        file = (ROOT / unquote(path).lstrip("/")).resolve()
        if not file.is_file() or ROOT not in file.parents:
            return self.reply(path, 404, {}, b"not found\n", body)
        stat = file.stat()
        size = stat.st_size
        headers = {
            "ETag": f'"{stat.st_mtime_ns:x}-{size:x}"',
            "Content-Type": mimetypes.guess_type(file.name)[0] or "application/octet-stream",
        }
        r = parse_range(self.headers.get("Range"), size)
        if r == "unsatisfiable":
            return self.reply(path, 416, {**headers, "Content-Range": f"bytes */{size}"}, b"", body)
        start, end = r if r else (0, size - 1)
        with open(file, "rb") as f:
            f.seek(start)
            data = f.read(end - start + 1) if size else b""
        if r:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self.reply(path, 206 if r else 200, headers, data, body)

    def reply(self, path, status, headers, data, body):
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)
        count(path, status == 206, len(data) if body else 0)


def main():
    global ROOT
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: range_server.py DIR (an existing directory)")
    ROOT = Path(sys.argv[1]).resolve()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
