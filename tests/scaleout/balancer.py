"""A load balancer in front of the replicas, as an httpx transport: what a Kubernetes Service does.

Each service has one address, `http://<service>.lb`; every request goes to the next replica in
turn. A replica taken out (as a failing readiness probe would) gets no new requests; a refused
connection (nothing reached the replica) is sent to the other one. Requests in flight are
counted per replica, so a test can let them finish before it kills the process.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

SUFFIX = ".lb"
COMMANDS = ("POST", "PUT")


class Balancer(httpx.AsyncBaseTransport):
    def __init__(self, replicas: dict[str, list[str]]) -> None:
        self.replicas = replicas  # service → base URLs of its replicas
        self.inner = httpx.AsyncHTTPTransport(retries=0)
        self.out: set[str] = set()
        self.turn: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.served: Counter[str] = Counter()  # base URL → requests answered
        self.commands = 0  # POST/PUT answered, all replicas
        self.refused = 0  # connections refused and sent to the other replica

    def urls(self) -> dict[str, str]:
        return {service: f"http://{service}{SUFFIX}" for service in self.replicas}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.host.endswith(SUFFIX):
            return await self.inner.handle_async_request(request)  # one replica, addressed directly
        service = request.url.host.removesuffix(SUFFIX)
        tries = 2 * len(self.replicas[service])
        for attempt in range(tries):
            alive = [url for url in self.replicas[service] if url not in self.out]
            target = alive[self.turn[service] % len(alive)]
            self.turn[service] += 1
            base = httpx.URL(target)
            request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
            self.in_flight[target] += 1
            try:
                response = await self.inner.handle_async_request(request)
                # in flight until its body is read: take_out must not let a kill cut an answer half sent (ReadError)
                await response.aread()
            except httpx.ConnectError:
                self.refused += 1  # nothing reached it: the other replica takes the request
                if attempt == tries - 1:
                    raise
                await asyncio.sleep(0.05)
                continue
            finally:
                self.in_flight[target] -= 1
            self.served[target] += 1
            if request.method in COMMANDS:
                self.commands += 1
            return response
        raise AssertionError("unreachable")

    async def take_out(self, url: str, deadline_s: float = 30.0) -> None:
        """No new requests to `url`; return once those in flight were answered."""
        self.out.add(url)
        deadline = time.monotonic() + deadline_s
        while self.in_flight[url] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        await self.inner.aclose()
