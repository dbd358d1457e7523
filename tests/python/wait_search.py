"""Connects to `forage serve` over stdio and calls search_tools until QUERY's results include
package/function (the component was pushed after the session began), or times out."""

import argparse
import os

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def run(args):
    env = dict(os.environ, FORAGE_DATA_DIR=args.data_dir)
    server = StdioServerParameters(command=args.forage, args=["--config", args.config, "serve"], env=env)
    async with Client(server, mode="legacy", read_timeout_seconds=60) as client:
        print("connected", flush=True)
        with anyio.fail_after(args.timeout):
            while True:
                r = await client.call_tool("search_tools", {"query": args.query, "limit": 10})
                found = [f"{x['package']}/{x['function']}" for x in r.structured_content["results"]]
                if args.expect in found:
                    print("found", args.expect, flush=True)
                    return
                await anyio.sleep(0.5)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--forage", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--expect", required=True)
    p.add_argument("--timeout", type=float, default=60)
    anyio.run(run, p.parse_args())


if __name__ == "__main__":
    main()
