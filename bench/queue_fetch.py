"""Benchmark: the live paged fetch of 10,000 queues from the lab's management API (pages/s).

Creates the queues in a vhost of its own (concurrent PUTs), times `QueueFetch` — the collector's
own code: 500 queues per page, 4 pages in flight, rows converted as each page arrives — a few
times, then deletes the vhost (and with it every queue). Holds the lab lock meanwhile, so test
sessions wait rather than see 10,000 unmirrored queues. Prints figures, asserts nothing.

    .venv/bin/python bench/queue_fetch.py [--queues 10000] [--repeat 3] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

API, HOST_ADDRESS = "http://198.18.0.11:15672", "198.18.0.11"
VHOST = "preflight-bench-fetch"
LOCK = Path("/tmp/preflight-lab.lock")


async def create_queues(count: int) -> float:
    import httpx

    v = quote(VHOST, safe="")
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=API, auth=("guest", "guest"), timeout=60, trust_env=False,
                                 limits=httpx.Limits(max_connections=32)) as client:
        await client.delete(f"/api/vhosts/{v}")
        (await client.put(f"/api/vhosts/{v}", json={})).raise_for_status()
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with gate:
                for attempt in range(3):  # the API closes a keep-alive connection after 100 requests
                    try:
                        resp = await client.put(f"/api/queues/{v}/bench.{i % 50}.{i}", json={"durable": False})
                        break
                    except httpx.RemoteProtocolError:
                        if attempt == 2:
                            raise
                resp.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - t0


async def delete_vhost() -> None:
    import httpx

    async with httpx.AsyncClient(base_url=API, auth=("guest", "guest"), timeout=120, trust_env=False) as client:
        await client.delete(f"/api/vhosts/{quote(VHOST, safe='')}")


async def fetch_once(concurrency: int, statistics: bool = True) -> tuple[float, int, int]:
    
    from rabbitmq_preflight.collect.management import QueueFetch, open_api
    from rabbitmq_preflight.collect.options import CollectOptions
    from rabbitmq_preflight.inventory import Inventory, ManagementSection, NodeSpec
    from rabbitmq_preflight.record import Secret

    inv = Inventory(nodes=[NodeSpec(name="rabbit@rabbit1", address=HOST_ADDRESS)],
                    management=ManagementSection(user="guest", password=Secret("guest")))
    opts = CollectOptions.of(inv, timeout=30.0, deadline=120.0)
    t0 = time.perf_counter()
    async with open_api(inv.nodes[0], opts) as api:
        table = await QueueFetch(api, concurrency=concurrency, statistics=statistics).run()
    return time.perf_counter() - t0, table.pages, len(table.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    LOCK.touch(exist_ok=True)
    with LOCK.open("r+") as lock:
        print("waiting for the lab lock…", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            made = asyncio.run(create_queues(args.queues))
            print(f"created {args.queues:,} queues in {made:.1f} s")
            runs = [asyncio.run(fetch_once(args.concurrency)) for _ in range(args.repeat)]
            cheap = [asyncio.run(fetch_once(args.concurrency, statistics=False)) for _ in range(args.repeat)]
            serial = [asyncio.run(fetch_once(1)) for _ in range(args.repeat)]
        finally:
            asyncio.run(delete_vhost())
    times = [t for t, _, _ in runs]
    pages, rows = runs[-1][1], runs[-1][2]
    best, median = min(times), statistics.median(times)
    print(f"fetched {rows:,} queues (all vhosts) in {pages} pages of ≤ 500, {args.concurrency} in flight")
    print(f"time: best {best:.2f} s, median {median:.2f} s over {len(times)} runs")
    print(f"throughput: {pages / median:.1f} pages/s, {rows / median:,.0f} queues/s (median)")
    for label, more in (("one page at a time", serial), ("disable_stats=true", cheap)):
        m = statistics.median(t for t, _, _ in more)
        print(f"  for comparison, {label}: median {m:.2f} s, {pages / m:.1f} pages/s")


if __name__ == "__main__":
    main()
