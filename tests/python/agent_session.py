"""An agent session against forage, driven by the official MCP Python SDK.

Usage: agent_session.py --transport stdio|http --mode legacy|2026-07-28 --forage BIN
                        --data-dir DIR [--config FILE] [--env K=V ...] --load REF[=TOOL_CHECK] ...

For each REF: load_tool, expect the tool-list change to be announced (a plain
notification for legacy sessions, a subscriptions/listen event for 2026-07-28),
call one tool and check its result, then check bad arguments and unload.
Prints one JSON line per step; exits non-zero on the first failed expectation.
"""

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

# Per fixture: (function, arguments, check(structuredContent) -> bool)
CHECKS = {
    "types": ("add", {"a": 40, "b": 2}, lambda s: s == {"result": 42}),
    "clock": ("format-unix", {"unix-seconds": 0, "zone": "UTC"}, lambda s: "1970-01-01" in json.dumps(s)),
    "hash": None,
    "pytext": ("wrap", {"text": "aaa bbb ccc", "width": 4}, lambda s: s == {"result": ["aaa", "bbb", "ccc"]}),
}


def step(name, **kw):
    print(json.dumps({"step": name, **kw}), flush=True)


def fail(msg):
    print(json.dumps({"step": "FAIL", "error": msg}), flush=True)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


async def run(args):
    env = dict(os.environ)
    env["FORAGE_DATA_DIR"] = args.data_dir
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    cmd_args = []
    if args.config:
        cmd_args += ["--config", args.config]
    notifications = []

    async def on_message(msg):
        # Legacy sessions: server notifications arrive here.
        name = type(getattr(msg, "root", msg)).__name__
        notifications.append(name)

    proc = None
    if args.transport == "stdio":
        server = StdioServerParameters(command=args.forage, args=cmd_args + ["serve"], env=env)
    else:
        proc = subprocess.Popen(
            [args.forage] + cmd_args + ["serve", "--http", "127.0.0.1:0"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        url = None
        for line in proc.stderr:
            m = re.search(r"listening on (http://\S+/mcp)", line)
            if m:
                url = m.group(1)
                break
        expect(url is not None, "forage --http did not print its address")
        server = url
    try:
        async with Client(server, mode=args.mode, message_handler=on_message, read_timeout_seconds=120) as client:
            step("connected", protocol=client.protocol_version)
            caps = client.server_capabilities
            expect(caps.tools is not None and caps.tools.list_changed, "tools.listChanged not advertised")
            tools = (await client.list_tools()).tools
            names = {t.name for t in tools}
            expect({"load_tool", "call_tool", "unload_tool"} <= names, f"meta-tools missing: {names}")
            for spec in args.search:
                await search_then_load(client, spec)
            for ref in args.load:
                await one_component(client, args, ref, notifications)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


async def search_then_load(client, spec):
    """`QUERY=>package/function`: the expected function must be the first result; then
    load_tool takes the result's id and exposes that function."""
    query, _, expected = spec.partition("=>")
    r = await client.call_tool("search_tools", {"query": query, "limit": 5})
    expect(not r.is_error, f"search_tools failed: {r.content[0].text if r.content else r}")
    results = r.structured_content["results"]
    expect(results, f"no results for {query!r}")
    top = results[0]
    for field in ["id", "package", "interface", "function", "version", "reference", "description",
                  "signature", "capabilities", "verified", "score"]:
        expect(field in top, f"result lacks `{field}`: {top}")
    expect("@sha256:" in top["reference"], f"reference not pinned: {top['reference']}")
    got = f"{top['package']}/{top['function']}"
    expect(got == expected, f"{query!r}: rank 1 is {got}, expected {expected}")
    text = r.content[0].text
    expect(len(text) < 400 * len(results), f"rendering too long: {len(text)} chars")
    step("searched", query=query, top=got, id=top["id"])
    r = await client.call_tool("load_tool", {"reference": top["id"]})
    expect(not r.is_error, f"load_tool by id failed: {r.content[0].text}")
    names = [t["name"] for t in r.structured_content["tools"]]
    expect(any(n.endswith(f"_{top['function']}") for n in names), f"{top['function']} not among {names}")
    step("loaded-by-id", component=r.structured_content["component"])
    r = await client.call_tool("unload_tool", {"component": r.structured_content["component"]})
    expect(not r.is_error, f"unload: {r.content[0].text}")


async def wait_for(pred, what, timeout=20):
    with anyio.fail_after(timeout):
        while not pred():
            await anyio.sleep(0.05)
    step("observed", what=what)


async def one_component(client, args, ref, notifications):
    fixture, _, _ = ref.rpartition("#")
    ref_str = fixture if fixture else ref
    kind = ref.rsplit("#", 1)[1] if "#" in ref else None
    listen_cm = None
    sub = None
    if args.mode != "legacy":
        listen_cm = client.listen(tools_list_changed=True)
        sub = await listen_cm.__aenter__()
    before = len(notifications)
    res = await client.call_tool("load_tool", {"reference": ref_str})
    expect(not res.is_error, f"load_tool {ref_str} failed: {res.content[0].text if res.content else res}")
    s = res.structured_content
    comp = s["component"]
    expect(s["digest"].startswith("sha256:"), "digest not reported")
    expect("@sha256:" in s["reference"] or s["reference"].startswith("/"), f"reference not pinned: {s['reference']}")
    tool_names = [t["name"] for t in s["tools"]]
    expect(all(TOOL_NAME.match(n) for n in tool_names), f"bad tool names {tool_names}")
    step("loaded", component=comp, digest=s["digest"], reference=s["reference"], tools=len(tool_names))
    if sub is not None:
        with anyio.fail_after(20):
            async for event in sub:
                step("observed", what="subscriptions/listen " + type(event).__name__)
                break
        await listen_cm.__aexit__(None, None, None)
    else:
        await wait_for(lambda: any("ToolListChanged" in n for n in notifications[before:]), "tools/list_changed")
    listed = {t.name: t for t in (await client.list_tools()).tools}
    expect(all(n in listed for n in tool_names), "loaded tools not listed")
    check = CHECKS.get(kind)
    if check:
        fname, fargs, ok = check
        tname = next(t["name"] for t in s["tools"] if t["name"].endswith("_" + fname))
        r = await client.call_tool(tname, fargs)
        expect(not r.is_error and ok(r.structured_content), f"{tname}{fargs} -> {r.structured_content}")
        step("called", tool=tname, result=r.structured_content)
        r = await client.call_tool("call_tool", {"name": tname, "arguments": fargs})
        expect(not r.is_error and ok(r.structured_content), f"call_tool {tname} -> {r.structured_content}")
        # Bad arguments: a wrong type is named by its JSON path.
        bad = {k: "not-a-number" if isinstance(v, int) else 12345 for k, v in fargs.items()}
        r = await client.call_tool(tname, bad)
        text = r.content[0].text if r.content else ""
        expect(r.is_error and "$." in text, f"bad arguments not refused with a path: {text}")
        step("bad-arguments", message=text)
    if kind == "types":
        tname = next(t["name"] for t in s["tools"] if t["name"].endswith("_checked-divide"))
        r = await client.call_tool(tname, {"a": 1, "b": 0})
        expect(r.is_error and "error" in r.structured_content, f"result err not isError: {r}")
        step("result-err", structured=r.structured_content)
        tname = next(t["name"] for t in s["tools"] if t["name"] == "types_add")
        r = await client.call_tool(tname, {"a": 1, "b": 2, "c": 3})
        expect(r.is_error and "unknown" in r.content[0].text, f"extra field accepted: {r.content[0].text}")
        r = await client.call_tool(tname, {"a": 300000000000, "b": 2})
        expect(r.is_error and "$.a" in r.content[0].text, f"out of range accepted: {r.content[0].text}")
    if not args.keep:
        before = len(notifications)
        r = await client.call_tool("unload_tool", {"component": comp})
        expect(not r.is_error and set(r.structured_content["removed_tools"]) == set(tool_names), f"unload: {r}")
        listed = {t.name for t in (await client.list_tools()).tools}
        expect(not (set(tool_names) & listed), "unloaded tools still listed")
        step("unloaded", component=comp)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--transport", choices=["stdio", "http"], required=True)
    p.add_argument("--mode", default="legacy", help="legacy, auto (probes server/discover) or a pinned modern version")
    p.add_argument("--forage", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--config")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--keep", action="store_true", help="do not unload at the end")
    p.add_argument("--load", action="append", default=[], help="REF#kind")
    p.add_argument("--search", action="append", default=[], help="QUERY=>package/function")
    args = p.parse_args()
    anyio.run(run, args)
    step("done")


if __name__ == "__main__":
    main()
