"""Searches without pause from several MCP sessions (official Python SDK, streamable HTTP)
while the daemon swaps index snapshots, and reports every failed search.

Usage: search_swap.py --url http://127.0.0.1:PORT/mcp --query Q --expect FUNCTION
                      [--sessions 4] [--seconds 60] [--after 1.0] [--go FILE]
Each session searches Q in a loop. A search fails when it errors, raises, or returns no
result. The run ends `--after` seconds after some search first returned FUNCTION (the new
snapshot is in service), or after `--seconds`. With --go, the script writes FILE once every
session has done its first search, so the caller knows the load is running before it
publishes. Prints one JSON object: searches, errors (first messages), seen_new (bool),
p50/p99 ms before and after the swap.
"""

import argparse
import json
import time

import anyio
from mcp import Client


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 3)


async def session(args, st):
    try:
        async with Client(args.url, mode="legacy", read_timeout_seconds=60) as c:
            first = True
            while time.monotonic() < st["deadline"]:
                t = time.monotonic()
                try:
                    r = await c.call_tool("search_tools", {"query": args.query, "limit": 5})
                    results = (r.structured_content or {}).get("results", [])
                    if r.is_error or not results:
                        st["errors"].append(r.content[0].text if r.content else "no results")
                    elif any(h["function"] == args.expect for h in results) and st["seen_at"] is None:
                        st["seen_at"] = time.monotonic()
                        st["deadline"] = min(st["deadline"], st["seen_at"] + args.after)
                except Exception as e:
                    st["errors"].append(f"{type(e).__name__}: {e}")
                dt = time.monotonic() - t
                (st["after"] if st["seen_at"] else st["before"]).append(dt)
                st["searches"] += 1
                if first:
                    first = False
                    st["ready"] += 1
                    if st["ready"] == args.sessions and args.go:
                        open(args.go, "w").write("go")
    except Exception as e:
        st["errors"].append(f"session: {type(e).__name__}: {e}")


async def run(args):
    st = {"deadline": time.monotonic() + args.seconds, "errors": [], "seen_at": None, "searches": 0,
          "ready": 0, "before": [], "after": []}
    async with anyio.create_task_group() as tg:
        for _ in range(args.sessions):
            tg.start_soon(session, args, st)
    print(json.dumps({
        "searches": st["searches"],
        "errors": len(st["errors"]),
        "first_errors": st["errors"][:5],
        "seen_new": st["seen_at"] is not None,
        "p50_ms_before": pct(st["before"], 0.5), "p99_ms_before": pct(st["before"], 0.99),
        "p50_ms_after": pct(st["after"], 0.5), "p99_ms_after": pct(st["after"], 0.99),
    }))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--expect", required=True)
    p.add_argument("--sessions", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--after", type=float, default=1.0)
    p.add_argument("--go")
    anyio.run(run, p.parse_args())
