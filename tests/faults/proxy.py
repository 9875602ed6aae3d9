"""A loopback TCP proxy in front of nats-server that can delay traffic and refuse connections.

Every service reaches NATS through it. While a delay is on, each chunk of bytes is held for a
random time, in order within its connection (the protocol stays valid) but independently across
connections: a service's publishes, another's acks and a consumer's fetches overtake one another,
so messages arrive late and in a different order across subjects than they were published.
`refuse()` closes the listening socket and cuts every connection (as a stopped server would:
connection refused) and `accept()` opens it again on the same port.

It runs in a process of its own (this file is its program), so that the harness's own work never
slows the suite's traffic; `DelayProxy` drives it with one-line commands on its stdin.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

HOST = "127.0.0.1"
CHUNK = 65536


class DelayProxy:
    """The harness's handle on the proxy process."""

    def __init__(self, listen_port: int, upstream_port: int, seed: int = 0) -> None:
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.seed = seed
        self.delayed_chunks = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.listen_port}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.listen_port), str(self.upstream_port), str(self.seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        self._command("accept")

    def accept(self) -> None:
        self._command("accept")

    def refuse(self) -> None:
        self._command("refuse")

    def delay(self, max_seconds: float) -> None:
        self._command(f"delay {max_seconds}")

    def stop(self) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        with suppress(Exception):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _command(self, line: str) -> None:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline().split()
        if not answer or answer[0] != "ok":
            raise RuntimeError(f"the NATS proxy did not do {line!r}: {answer}")
        self.delayed_chunks = int(answer[1])


class Proxy:
    """The proxy itself (in its own process)."""

    def __init__(self, listen_port: int, upstream_port: int, seed: int) -> None:
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.max_delay = 0.0  # seconds; 0 = pass bytes straight through
        self.delayed_chunks = 0
        self.random = random.Random(seed)
        self.server: asyncio.base_events.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode():
            command, *args = line.split()
            if command == "accept" and self.server is None:
                self.server = await asyncio.start_server(self.serve, HOST, self.listen_port, reuse_address=True)
            elif command == "refuse":
                await self.close()
            elif command == "delay":
                self.max_delay = float(args[0])
            print(f"ok {self.delayed_chunks}", flush=True)
        await self.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for task in list(self.pipes):
            task.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    async def serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.pipes.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        pumps: list[asyncio.Task[None]] = []
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self.upstream_port)
            pumps = [asyncio.create_task(self.pump(client_reader, upstream_writer)),
                     asyncio.create_task(self.pump(upstream_reader, client_writer))]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
            self.pipes.discard(task)

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward bytes in order; while a delay is on, hold each chunk until its release time."""
        release = 0.0
        try:
            while data := await reader.read(CHUNK):
                if self.max_delay > 0:
                    release = max(release, time.monotonic() + self.random.uniform(0, self.max_delay))
                    self.delayed_chunks += 1
                    wait = release - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            return


if __name__ == "__main__":
    asyncio.run(Proxy(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])).run())
