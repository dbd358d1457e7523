"""Connects to `forage serve` over stdio and waits until a tool whose name starts with
--expect-prefix is listed (installed components are restored in the background)."""

import argparse
import os

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def run(args):
    env = dict(os.environ, FORAGE_DATA_DIR=args.data_dir)
    server = StdioServerParameters(command=args.forage, args=["serve"], env=env)
    async with Client(server, mode="legacy") as client:
        with anyio.fail_after(30):
            while True:
                names = [t.name for t in (await client.list_tools()).tools]
                if any(n.startswith(args.expect_prefix) for n in names):
                    print("restored:", sorted(n for n in names if n.startswith(args.expect_prefix)))
                    return
                await anyio.sleep(0.1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--forage", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--expect-prefix", required=True)
    anyio.run(run, p.parse_args())


if __name__ == "__main__":
    main()
