"""Concurrent load against `forage serve --http`: N MCP sessions (official Python SDK,
streamable HTTP) for D seconds, each looping over search_tools, a tool call and a grant, while
the server's RSS is sampled every second.

Usage: load.py --url http://127.0.0.1:PORT/mcp --pid PID --sessions 64 --seconds 60
               --component PATH
Prints one JSON object: operations, errors (with the first few messages), p50/p99 latency per
operation in ms, RSS samples in KiB, and the RSS slope (KiB/s, least squares over the second
half of the run, after warm-up).
"""

import argparse
import json
import statistics
import time

import anyio
from mcp import Client


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 3)


def slope(points):
    if len(points) < 3:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


async def session(args, n, lat, errors, stop):
    try:
        async with Client(args.url, mode="legacy", read_timeout_seconds=60) as c:
            r = await c.call_tool("load_tool", {"reference": args.component})
            if r.is_error:
                errors.append(f"session {n}: load: {r.content[0].text}")
                return
            comp = r.structured_content["component"]
            add = next(t["name"] for t in r.structured_content["tools"] if t["name"].endswith("_add"))
            i = 0
            while time.monotonic() < stop:
                i += 1
                for op, name, a in [
                    ("search", "search_tools", {"query": "convert a time between zones", "limit": 5}),
                    ("call", add, {"a": n, "b": i}),
                    ("grant", "grant", {"component": comp, "reason": "load test",
                                        "capability": {"kind": "env", "name": f"LOAD_{n % 8}"}}),
                ]:
                    t = time.monotonic()
                    try:
                        r = await c.call_tool(name, a)
                        ok = not r.is_error
                        if op == "call" and ok:
                            ok = r.structured_content == {"result": n + i}
                        if not ok:
                            errors.append(f"{op}: {r.content[0].text if r.content else r}")
                    except Exception as e:  # a transport error is an error too
                        errors.append(f"{op}: {type(e).__name__}: {e}")
                    lat.setdefault(op, []).append(time.monotonic() - t)
    except Exception as e:
        errors.append(f"session {n}: {type(e).__name__}: {e}")


async def run(args):
    lat, errors, samples = {}, [], []
    start = time.monotonic()
    stop = start + args.seconds

    async def sampler():
        while time.monotonic() < stop + 1:
            samples.append((round(time.monotonic() - start, 1), rss_kib(args.pid)))
            await anyio.sleep(1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sampler)
        for n in range(args.sessions):
            tg.start_soon(session, args, n, lat, errors, stop)
    second_half = [p for p in samples if p[0] >= args.seconds / 2]
    print(json.dumps({
        "sessions": args.sessions,
        "seconds": args.seconds,
        "operations": {op: len(v) for op, v in lat.items()},
        "errors": len(errors),
        "first_errors": errors[:5],
        "p50_ms": {op: pct(v, 0.50) for op, v in lat.items()},
        "p99_ms": {op: pct(v, 0.99) for op, v in lat.items()},
        "rss_kib": samples,
        "rss_slope_kib_per_s": round(slope(second_half), 2),
    }))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--sessions", type=int, default=64)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--component", required=True)
    anyio.run(run, p.parse_args())


if __name__ == "__main__":
    main()
