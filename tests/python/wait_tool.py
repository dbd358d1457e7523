"""Waits until `forage serve --http` lists a tool (components named in `server.load` are
loaded in the background after the server starts). Exits 1 with the listed names on timeout."""

import argparse
import sys

import anyio
from mcp import Client


async def run(args):
    names = []
    with anyio.move_on_after(args.timeout):
        while True:
            try:
                async with Client(args.url, mode="legacy") as client:
                    while True:
                        names = [t.name for t in (await client.list_tools()).tools]
                        if args.name in names:
                            print(f"listed: {args.name}")
                            return 0
                        await anyio.sleep(0.2)
            except Exception as e:  # the server may not accept connections yet
                names = [f"({type(e).__name__}: {e})"]
                await anyio.sleep(0.2)
    print(f"{args.name} not listed after {args.timeout} s; tools: {names}", file=sys.stderr)
    return 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--timeout", type=float, default=120)
    sys.exit(anyio.run(run, p.parse_args()))


if __name__ == "__main__":
    main()
