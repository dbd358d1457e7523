"""A scripted agent that knows nothing of forage's internals: it reads tool descriptions,
results and error messages, and does what they say. For each task: search → load → call →
read the refusal → make the `grant` call the refusal names → call again, which must succeed.

Usage: agent_loop.py --forage BIN --data-dir DIR --config FILE --note FILE
Prints one JSON line per step; exits non-zero on the first failed expectation.
"""

import argparse
import http.server
import json
import os
import re
import sys
import threading

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

GRANT_CALL = re.compile(r"call grant (\{.*\})\s*$", re.MULTILINE)


def step(name, **kw):
    print(json.dumps({"step": name, **kw}), flush=True)


def expect(cond, msg):
    if not cond:
        print(json.dumps({"step": "FAIL", "error": msg}), flush=True)
        sys.exit(1)


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello from the page the agent needed")

    def log_message(self, *a):
        pass


def text(r):
    return r.content[0].text if r.content else ""


async def task(client, name, query, package, function, args, succeeded):
    # 1. Find a tool for the need, by what it does.
    r = await client.call_tool("search_tools", {"query": query, "limit": 5})
    expect(not r.is_error, f"{name}: search: {text(r)}")
    hits = r.structured_content["results"]
    # The agent reads the descriptions and picks the tool that does what it needs; here that
    # choice is the package and function the task calls for.
    hit = next((h for h in hits if h["function"] == function and h["package"] == package), None)
    expect(hit is not None, f"{name}: no {package}/{function} in the top 5 for {query!r}: {[h['id'] for h in hits]}")
    step("found", task=name, id=hit["id"], rank=hits.index(hit) + 1)
    # 2. Load it; its functions become tools.
    r = await client.call_tool("load_tool", {"reference": hit["id"]})
    expect(not r.is_error, f"{name}: load: {text(r)}")
    loaded = r.structured_content
    tool = next(t["name"] for t in loaded["tools"] if t["name"].endswith(f"_{function}"))
    # 3. Call it. The sandbox grants nothing yet: the result must say what to ask for.
    r = await client.call_tool(tool, args)
    said = text(r)
    m = GRANT_CALL.search(said)
    expect(m is not None, f"{name}: the first call names no grant call: {said}")
    request = json.loads(m.group(1))
    step("refused", task=name, message=said)
    # 4. Ask for exactly that, with a reason (an operator rule decides here).
    request["reason"] = f"the task needs it: {name}"
    r = await client.call_tool("grant", request)
    expect(not r.is_error, f"{name}: grant: {text(r)}")
    d = r.structured_content
    expect(d["decision"] == "granted", f"{name}: grant decision: {d}")
    cls = {"network": "http", "storage": "filesystem", "env": "environment"}[request["capability"]["kind"]]
    expect(cls not in (d.get("capabilities_ungranted") or []), f"{name}: still listed as ungranted: {d}")
    step("granted", task=name, capability=request["capability"], ungranted=d.get("capabilities_ungranted"))
    # 5. The same call now works, and nothing is left to ask for.
    r = await client.call_tool(tool, args)
    expect(not r.is_error and succeeded(r.structured_content), f"{name}: after the grant: {text(r)}")
    expect("call grant" not in text(r), f"{name}: still asks for a grant: {text(r)}")
    step("done-task", task=name, result=r.structured_content)


async def run(args):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    env = dict(os.environ, FORAGE_DATA_DIR=args.data_dir)
    server = StdioServerParameters(command=args.forage, args=["--config", args.config, "serve"], env=env)
    async with Client(server, mode="legacy", read_timeout_seconds=60) as client:
        await task(client, "network", "download a web page over http", "forage:http", "fetch", {"url": url},
                   lambda s: "hello from the page" in json.dumps(s))
        await task(client, "storage", "read a text file from disk", "forage:files", "read-text", {"path": args.note},
                   lambda s: "the note the agent needed" in json.dumps(s))
        await task(client, "env", "read an environment variable", "forage-fixtures:hostile", "get-env",
                   {"name": "FORAGE_AGENT_TOKEN"},
                   lambda s: s == {"result": "agent-secret"})
    srv.shutdown()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--forage", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--note", required=True)
    anyio.run(run, p.parse_args())
    step("done")


if __name__ == "__main__":
    main()
