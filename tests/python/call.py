"""Loads components and calls tools over stdio with the official MCP Python SDK; prints one
JSON line per call: {"tool", "is_error", "structured", "text"}.

Usage: call.py --forage BIN --data-dir DIR --load REF [--load REF ...]
               --call FUNCTION JSON_ARGS [--call ...]
FUNCTION is the WIT function name; the tool is the loaded one whose name ends in `_FUNCTION`.
"""

import argparse
import json
import os

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def run(args):
    env = dict(os.environ, FORAGE_DATA_DIR=args.data_dir)
    extra = ["--config", args.config] if args.config else []
    server = StdioServerParameters(command=args.forage, args=extra + ["serve"], env=env)
    async with Client(server, mode="legacy", read_timeout_seconds=60) as client:
        tools = []
        for ref in args.load:
            r = await client.call_tool("load_tool", {"reference": ref})
            assert not r.is_error, r.content[0].text
            print(json.dumps({"loaded": r.structured_content["component"]}), flush=True)
            tools += [t["name"] for t in r.structured_content["tools"]]
        for fn, a in args.call:
            name = next(t for t in tools if t.endswith(f"_{fn}"))
            r = await client.call_tool(name, json.loads(a))
            text = r.content[0].text if r.content else ""
            print(json.dumps({"tool": name, "is_error": bool(r.is_error), "structured": r.structured_content, "text": text}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--forage", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--config")
    p.add_argument("--load", action="append", default=[])
    p.add_argument("--call", nargs=2, action="append", default=[])
    anyio.run(run, p.parse_args())


if __name__ == "__main__":
    main()
