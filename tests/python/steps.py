"""Runs a scripted MCP session against forage with the official MCP Python SDK and prints one
JSON line per step, so a Rust test can assert on what an agent would see.

Usage: steps.py --forage BIN --data-dir DIR [--config FILE] [--mode legacy|auto]
                [--elicit approve|deny|none] [--env K=V ...] [--url URL] --steps JSON
With --url, the session talks streamable HTTP to a daemon already serving at URL.
--steps @FILE reads the JSON from FILE (for arguments larger than one command-line argument
may be).

JSON is a list of steps, run in order:
  {"tool": NAME, "args": {...}}     call a tool (a meta-tool, or a loaded tool by full name)
  {"fn": FUNCTION, "args": {...}}   call the loaded tool whose name ends in `_FUNCTION`
  {"parallel": [step, ...]}         run steps concurrently; one line per inner step
  {"raw_grant": {...}}              call `grant` with explicit input_responses/request_state
                                    (keys: args, input_responses, request_state)
  {"sleep_ms": N}                   wait
  {"wait_tool": PREFIX, "timeout_ms": N}  wait until a tool whose name starts with PREFIX is
                                    listed (restored in the background); reports whether it was
  {"list_tools": true}              the names of the tools listed now
  {"peak_rss_kib": true}            VmHWM of this script's child processes (the stdio server)
  {"run": [ARGV...]}                run a command (e.g. change a registry mid-session); its rc
Any step may carry "delay_ms": N, waited before it runs (useful inside "parallel").
Strings "$component" in args are replaced by the component id of the last load_tool.
Each line: {"i", "label", "is_error", "structured", "text", "ms"} or {"i", "exception"}.
A final line {"done": true, "prompts": [messages the client was asked to approve]}.
"""

import argparse
import json
import os
import sys
import time

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters

state = {"component": None, "tools": []}


def subst(v):
    if isinstance(v, str):
        return state["component"] if v == "$component" and state["component"] else v
    if isinstance(v, list):
        return [subst(x) for x in v]
    if isinstance(v, dict):
        return {k: subst(x) for k, x in v.items()}
    return v


def children_peak_rss_kib():
    """VmHWM (peak resident set) of each direct child process: the stdio server."""
    out = {}
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
            out[pid] = int(fields["VmHWM"].split()[0])
    return out


def emit(**kw):
    print(json.dumps(kw), flush=True)


async def run_step(client, i, step):
    label = step.get("label", step.get("fn") or step.get("tool") or "step")
    started = time.monotonic()
    try:
        if "delay_ms" in step:
            await anyio.sleep(step["delay_ms"] / 1000)
            started = time.monotonic()
        if "sleep_ms" in step:
            await anyio.sleep(step["sleep_ms"] / 1000)
            return
        if "wait_tool" in step:
            deadline = time.monotonic() + step.get("timeout_ms", 30000) / 1000
            found = []
            while time.monotonic() < deadline:
                names = [t.name for t in (await client.list_tools()).tools]
                found = [n for n in names if n.startswith(step["wait_tool"])]
                if found:
                    break
                await anyio.sleep(0.1)
            emit(i=i, label=label, found=found)
            return
        if "list_tools" in step:
            emit(i=i, label=label, tools=[t.name for t in (await client.list_tools()).tools])
            return
        if "run" in step:
            import subprocess
            p = subprocess.run(step["run"], capture_output=True, text=True)
            emit(i=i, label=label, rc=p.returncode, stderr=p.stderr[-2000:])
            return
        if "peak_rss_kib" in step:
            emit(i=i, label=label, peak_rss_kib=children_peak_rss_kib())
            return
        if "raw_grant" in step:
            g = step["raw_grant"]
            r = await client.call_tool(
                "grant",
                subst(g["args"]),
                input_responses=g.get("input_responses"),
                request_state=g.get("request_state"),
            )
        else:
            name = step.get("tool")
            if name is None:
                fn = step["fn"]
                name = next((t for t in state["tools"] if t.endswith(f"_{fn}")), None)
                if name is None:
                    emit(i=i, label=label, exception=f"no loaded tool for {fn}: {state['tools']}")
                    return
            r = await client.call_tool(name, subst(step.get("args", {})))
            if name == "load_tool" and not r.is_error:
                state["component"] = r.structured_content["component"]
                state["tools"] += [t["name"] for t in r.structured_content["tools"]]
        text = r.content[0].text if r.content else ""
        emit(i=i, label=label, is_error=bool(r.is_error), structured=r.structured_content, text=text,
             ms=round((time.monotonic() - started) * 1000))
    except Exception as e:  # what the agent would see: an MCP error, a timeout
        emit(i=i, label=label, exception=f"{type(e).__name__}: {e}", ms=round((time.monotonic() - started) * 1000))


async def run(args):
    env = dict(os.environ, FORAGE_DATA_DIR=args.data_dir)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    cmd = (["--config", args.config] if args.config else []) + ["serve"]
    prompts = []

    async def on_elicit(ctx, params):
        prompts.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": args.elicit == "approve"})

    kwargs = {"elicitation_callback": on_elicit} if args.elicit != "none" else {}
    server = args.url or StdioServerParameters(command=args.forage, args=cmd, env=env)
    if args.steps.startswith("@"):
        with open(args.steps[1:]) as f:
            steps = json.load(f)
    else:
        steps = json.loads(args.steps)
    async with Client(server, mode=args.mode, read_timeout_seconds=args.timeout, **kwargs) as client:
        for i, step in enumerate(steps):
            if "parallel" in step:
                async with anyio.create_task_group() as tg:
                    for j, inner in enumerate(step["parallel"]):
                        tg.start_soon(run_step, client, f"{i}.{j}", inner)
            else:
                await run_step(client, i, step)
    emit(done=True, prompts=prompts)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--forage", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--config")
    p.add_argument("--mode", default="legacy")
    p.add_argument("--elicit", choices=["approve", "deny", "none"], default="none")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--steps", required=True)
    p.add_argument("--url")
    anyio.run(run, p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
