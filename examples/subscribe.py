#!/usr/bin/env python3
"""Subscribes to Herald channels and prints every event as it arrives.

    .venv/bin/python examples/subscribe.py news [more channels...]

Connects anonymously (scripts/run allows it) to ws://127.0.0.1:8000, or to
HERALD_URL, and reconnects with exponential backoff and jitter.
"""
import asyncio
import json
import os
import random
import sys

import websockets

URL = os.environ.get("HERALD_URL", "ws://127.0.0.1:8000/connection/websocket")


async def session(channels):
    async with websockets.connect(URL) as ws:
        commands = [{"id": 1, "connect": {}}]
        for i, ch in enumerate(channels, start=2):
            commands.append({"id": i, "subscribe": {"channel": ch}})
        await ws.send("\n".join(json.dumps(c) for c in commands))
        async for frame in ws:
            for line in frame.splitlines():
                msg = json.loads(line)
                if "error" in msg:
                    print("error:", msg["error"], file=sys.stderr)
                elif "subscribe" in msg:
                    print("subscribed:", msg["subscribe"], file=sys.stderr)
                elif "push" in msg and "event" in msg["push"]:
                    print(json.dumps(msg["push"]), flush=True)
                elif "push" in msg and "disconnect" in msg["push"]:
                    print("disconnect:", msg["push"]["disconnect"], file=sys.stderr)


async def main(channels):
    delay = 0.5
    while True:
        try:
            await session(channels)
            delay = 0.5
        except (OSError, websockets.ConnectionClosed) as e:
            print(f"connection lost ({e}); retrying", file=sys.stderr)
        await asyncio.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 30)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
