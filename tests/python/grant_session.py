"""The consent flow, driven by the official MCP Python SDK:
search-free version: load → call (denied, with the grant named) → grant → call (allowed) →
revoke → call (denied again). The decision comes from --decider: `rule` (an operator rule in
the config), `user` (the client answers the elicitation), or `operator` (left pending, then
`forage grants approve ID`).

Prints one JSON line per step; exits non-zero on the first failed expectation.
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters


def step(name, **kw):
    print(json.dumps({"step": name, **kw}), flush=True)


def expect(cond, msg):
    if not cond:
        print(json.dumps({"step": "FAIL", "error": msg}), flush=True)
        sys.exit(1)


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello from the granted host")

    def log_message(self, *a):
        pass


def text(r):
    return r.content[0].text if r.content else ""


async def run(args):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Ok)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, FORAGE_DATA_DIR=args.data_dir)
    cfg_args = []
    if args.config:
        cfg = open(args.config).read().replace("@PORT@", str(port))
        path = os.path.join(args.data_dir, "config.toml")
        os.makedirs(args.data_dir, exist_ok=True)
        open(path, "w").write(cfg)
        cfg_args = ["--config", path]
    asked = []

    async def on_elicit(ctx, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": args.decider == "user"})

    kwargs = {}
    if args.decider == "user":
        kwargs["elicitation_callback"] = on_elicit
    server = StdioServerParameters(command=args.forage, args=cfg_args + ["serve"], env=env)
    async with Client(server, mode=args.mode, read_timeout_seconds=60, **kwargs) as client:
        step("connected", protocol=client.protocol_version)
        r = await client.call_tool("load_tool", {"reference": args.component})
        expect(not r.is_error, f"load: {text(r)}")
        comp = r.structured_content["component"]
        fetch = next(t["name"] for t in r.structured_content["tools"] if t["name"].endswith("_fetch"))
        if args.expect_granted_already:
            r = await client.call_tool(fetch, {"url": url})
            expect(not r.is_error and r.structured_content == {"result": {"ok": 200}}, f"grant not kept: {text(r)}")
            step("still-granted")
            return
        r = await client.call_tool(fetch, {"url": url})
        expect(r.is_error, f"ungranted fetch succeeded: {text(r)}")
        expect('call grant {"capability":{"host":"127.0.0.1"' in text(r) and comp in text(r), f"denial does not name the grant: {text(r)}")
        step("denied", message=text(r))
        cap = {"kind": "network", "host": "127.0.0.1", "port": port, "scheme": "http"}
        r = await client.call_tool("grant", {"component": comp, "capability": cap, "reason": "fetch the test page"})
        expect(not r.is_error, f"grant: {text(r)}")
        d = r.structured_content
        step("grant", decision=d["decision"], decided_by=d["decided_by"], id=d["id"])
        if args.decider == "rule":
            expect(d["decision"] == "granted" and d["decided_by"]["by"] == "rule", f"rule: {d}")
        elif args.decider == "user":
            expect(d["decision"] == "granted" and d["decided_by"]["by"] == "user", f"user: {d}")
            expect(asked and comp in asked[0] and "127.0.0.1" in asked[0], f"prompt: {asked}")
        else:
            expect(d["decision"] == "pending", f"operator: {d}")
            r = await client.call_tool(fetch, {"url": url})
            expect(r.is_error, "pending grant must not allow the call")
            out = subprocess.run([args.forage, "grants", "approve", d["id"]], env=env, capture_output=True, text=True)
            expect(out.returncode == 0 and "granted" in out.stdout, f"approve: {out.stdout} {out.stderr}")
            step("operator-approved", output=out.stdout.strip())
            r = await client.call_tool("grant", {"component": comp, "capability": cap, "reason": "again"})
            expect(r.structured_content["decision"] == "granted", f"after approval: {r.structured_content}")
        r = await client.call_tool(fetch, {"url": url})
        expect(not r.is_error and r.structured_content == {"result": {"ok": 200}}, f"granted fetch: {text(r)}")
        step("allowed", result=r.structured_content)
        # Another port on the same host stays closed.
        r = await client.call_tool(fetch, {"url": f"http://127.0.0.1:{port + 1}/"})
        expect(r.is_error, "another port must stay denied")
        if args.revoke:
            r = await client.call_tool("revoke", {"component": comp, "capability": cap})
            expect(not r.is_error and r.structured_content["revoked"], f"revoke: {text(r)}")
            r = await client.call_tool(fetch, {"url": url})
            expect(r.is_error, "revoked grant still allows the call")
            step("revoked")
    srv.shutdown()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--forage", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--mode", default="legacy")
    p.add_argument("--config")
    p.add_argument("--component", required=True)
    p.add_argument("--decider", choices=["rule", "user", "operator"], required=True)
    p.add_argument("--revoke", action="store_true")
    p.add_argument("--port", type=int, default=0, help="port of the test HTTP server (0: any free one)")
    p.add_argument("--expect-granted-already", action="store_true")
    anyio.run(run, p.parse_args())
    step("done")


if __name__ == "__main__":
    main()
