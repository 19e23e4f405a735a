"""One HTTP request, for the web page's tests: over TCP (http://host:port/path) or a Unix
socket (unix:SOCKET:/path). Prints a JSON object with the status, the headers (lowercase
names) and the body. With --until TEXT, the body is read as it streams until it holds TEXT
(or 30 s pass), then the connection is closed: for the log tails, which never end."""

import argparse
import http.client
import json
import socket
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--body", default="")
    parser.add_argument("--until")
    args = parser.parse_args()
    if args.url.startswith("unix:"):
        _, sock, target = args.url.split(":", 2)
        connection = UnixConnection(sock)
    else:
        rest = args.url[len("http://"):]
        hostport, _, target = rest.partition("/")
        target = "/" + target
        host, _, port = hostport.rpartition(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = dict(h.split(": ", 1) for h in args.header)
    connection.request(args.method, target, body=args.body.encode() if args.body else None, headers=headers)
    reply = connection.getresponse()
    if args.until is None:
        body = reply.read()
    else:
        body = b""
        deadline = time.monotonic() + 30
        while args.until.encode() not in body and time.monotonic() < deadline:
            chunk = reply.read1(65536)
            if not chunk:
                break
            body += chunk
    print(json.dumps({"status": reply.status, "headers": {k.lower(): v for k, v in reply.getheaders()},
                      "body": body.decode("utf-8", "replace")}))


main()
