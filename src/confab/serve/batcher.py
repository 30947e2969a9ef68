"""Request batching: replies to many sessions come from one model call where the agent allows it.

Requests wait in a queue; a worker takes what is there (up to `max_batch`, waiting at most `max_wait` seconds for
more once the first arrives) and runs the agent on one thread of its own, so the event loop never waits on the
model. With max_batch 1 every request is its own model call.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from confab.replies import Agent, Reply, respond_all


class Batcher:
    def __init__(self, agent: Agent, max_batch: int = 16, max_wait: float = 0.01, on_batch=None):
        self.agent, self.max_batch, self.max_wait, self.on_batch = agent, max_batch, max_wait, on_batch
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confab-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def respond(self, history: list[str], persona: list[str]) -> Reply:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((list(history), list(persona), future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(0.0, deadline - loop.time())))
                except TimeoutError:
                    break
            batch = [b for b in batch if not b[2].cancelled()]  # the client went away
            if not batch:
                continue
            if self.on_batch:
                self.on_batch(len(batch))
            requests = [(history, persona) for history, persona, _ in batch]
            try:
                replies = await loop.run_in_executor(self._executor, respond_all, self.agent, requests)
            except Exception as e:  # noqa: BLE001 - the error goes to every waiting request, the server stays up
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (*_, future), reply in zip(batch, replies, strict=True):
                if not future.done():
                    future.set_result(reply)
