"""Opens forage's operator console in headless Chromium (Debian's `chromium`), driven over the
DevTools protocol: checks that a pending grant request is shown with its component, signer,
capability and the agent's reason, clicks its Approve button (a real mouse event at the
button's position), and waits until the page shows no pending request.

Usage: console_click.py --url http://127.0.0.1:PORT/console --grant ID --expect TEXT [...]
Prints JSON lines; exits non-zero on the first failed expectation. Stops the browser it
started, by PID.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # websocket-client


def fail(msg):
    print(json.dumps({"step": "FAIL", "error": msg}), flush=True)
    sys.exit(1)


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    fail(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expr):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")

    def wait(self, expr, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.eval(expr):
                    return
            except Exception:
                pass
            time.sleep(0.1)
        fail(f"timed out waiting for {what}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--grant", required=True)
    p.add_argument("--expect", action="append", default=[])
    args = p.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        fail("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="forage-console-")
    proc = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30

        def written_port():
            # Chromium creates the file before it writes the port into it: an empty file means
            # "not yet", not "no port".
            try:
                with open(port_file) as f:
                    words = f.read().split()
            except FileNotFoundError:
                return None
            return words[0] if words else None

        port = written_port()
        while port is None and time.time() < deadline:
            time.sleep(0.1)
            port = written_port()
        if port is None:
            fail("chromium did not write its DevTools port")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.send("Page.enable")
        page.send("Page.navigate", url=args.url)
        page.wait("document.readyState === 'complete' && !!document.querySelector('h1')", "the console to load")
        row = page.eval(f"(document.querySelector('tr[data-id=\"{args.grant}\"]') || {{}}).innerText || ''")
        if not row:
            fail(f"no pending row for {args.grant}: {page.eval('document.body.innerText')}")
        for e in args.expect:
            if e not in row:
                fail(f"`{e}` not shown in the pending row: {row!r}")
        print(json.dumps({"step": "shown", "row": row}), flush=True)
        rect = page.eval(
            f"JSON.stringify(document.querySelector('button.approve[data-id=\"{args.grant}\"]').getBoundingClientRect())")
        r = json.loads(rect)
        x, y = r["x"] + r["width"] / 2, r["y"] + r["height"] / 2
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"]:
            page.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        page.wait(f"!document.querySelector('tr[data-id=\"{args.grant}\"]') && document.readyState === 'complete'",
                  "the request to leave the pending list")
        print(json.dumps({"step": "approved", "audit": page.eval("document.querySelector('#audit').innerText")[:2000]}),
              flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps({"step": "done"}), flush=True)


if __name__ == "__main__":
    main()
