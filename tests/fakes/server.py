"""Run an aiohttp application on a free loopback port in a background thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Callable, Optional, Tuple

from aiohttp import web


def serve_in_thread(app: web.Application) -> Tuple[str, Callable[[], None]]:
    """Start `app`; return its base URL and a function that stops it."""
    ready = threading.Event()
    state = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state.update(loop=loop, runner=runner, port=site._server.sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError("fake server did not start")

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), state["loop"]).result(10)
        state["loop"].call_soon_threadsafe(state["loop"].stop)

    return f"http://127.0.0.1:{state['port']}", stop


class FakeServer:
    """Base of the fake providers: `routes` adds the provider's endpoints; `start` serves them."""

    url: str = ""
    _stop: Optional[Callable[[], None]] = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self):  # type: ignore[no-untyped-def]
        app = web.Application()
        self.routes(app)
        self.url, self._stop = serve_in_thread(app)
        return self

    def stop(self) -> None:
        if self._stop:
            self._stop()
