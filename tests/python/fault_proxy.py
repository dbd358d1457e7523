"""A misbehaving HTTP proxy in front of a real registry, for fault-injection tests.

Usage: fault_proxy.py --upstream 127.0.0.1:PORT --mode-file FILE
Prints `listening PORT` on stdout once it accepts connections. Before each request it reads the
fault mode from FILE (one word; missing or empty means `pass`):

  pass         forward everything unchanged
  5xx          answer every request 503
  429          answer every request 429 with Retry-After: 1
  stall-blob   blob responses send their headers and half the body, then hang
  slow-blob    blob bodies trickle out at 1 KiB/s
  truncate     blob responses promise the full length and close after half
  mismatch     blob bodies have one byte flipped
  reset        every connection is closed without an answer (TCP reset)

Stops on SIGTERM/SIGKILL; the test kills it by PID.
"""

import argparse
import http.client
import os
import socket
import socketserver
import struct
import sys
import time

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


def mode(path):
    try:
        return open(path).read().strip() or "pass"
    except OSError:
        return "pass"


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            try:
                method, target, _ = line.decode("latin-1").split(" ", 2)
            except ValueError:
                return
            headers = []
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers.append((k.strip(), v.strip()))
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
            body = self.rfile.read(length) if length else b""
            m = mode(self.server.mode_file)
            if m == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if m in ("5xx", "429"):
                status = b"503 Service Unavailable" if m == "5xx" else b"429 Too Many Requests"
                extra = b"Retry-After: 1\r\n" if m == "429" else b""
                self.wfile.write(b"HTTP/1.1 " + status + b"\r\n" + extra + b"Content-Length: 0\r\n\r\n")
                continue
            up = http.client.HTTPConnection(self.server.upstream, timeout=30)
            fwd = {k: v for k, v in headers if k.lower() not in HOP and k.lower() != "host"}
            fwd["Host"] = self.server.upstream
            try:
                up.request(method, target, body=body or None, headers=fwd)
                resp = up.getresponse()
                data = resp.read()
            except OSError as e:
                self.wfile.write(f"HTTP/1.1 502 Bad Gateway\r\nContent-Length: {len(str(e))}\r\n\r\n{e}".encode())
                continue
            finally:
                up.close()
            blob = "/blobs/" in target and method == "GET" and resp.status == 200
            if blob and m == "mismatch" and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            out = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n".encode()]
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    out.append(f"{k}: {v}\r\n".encode())
            out.append(f"Content-Length: {len(data)}\r\n\r\n".encode())
            self.wfile.write(b"".join(out))
            if blob and m in ("stall-blob", "truncate"):
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                if m == "stall-blob":
                    time.sleep(3600)
                return
            if blob and m == "slow-blob":
                for i in range(0, len(data), 1024):
                    self.wfile.write(data[i:i + 1024])
                    self.wfile.flush()
                    time.sleep(1)
                continue
            self.wfile.write(data)
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--mode-file", required=True)
    args = p.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.upstream, srv.mode_file = args.upstream, args.mode_file
    print(f"listening {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
