"""The server's request queue: light calls (a run's status, the page's poll) never wait behind heavy ones, and are
never turned away because heavy ones filled the queue.

Gradio's queue bounds the waiting requests of every kind together (`max_size`): one visitor who sends a few dozen
Compare calls would fill it, and every other visitor's `/status` would be refused as "queue full". Here the bound
(`FT_APP_QUEUE_SIZE`) counts heavy requests only; light calls have no concurrency limit of their own either, so they
run as they arrive. The subclass changes only that check and keeps Gradio's queue otherwise as it is.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio import queueing, route_utils

from ft_app.ui import words

# The concurrency ids of the light calls (see train_tab: `/status` and the timer's `/poll`).
LIGHT_CALLS = frozenset({"status", "poll"})


class LightFirstQueue(queueing.Queue):
    """Gradio's queue, with its size bound applied to heavy requests only."""

    heavy_max_size: int | None = None

    def waiting_heavy(self) -> int:
        """Heavy requests waiting for their turn."""
        return sum(len(q.queue) for cid, q in self.event_queue_per_concurrency_id.items() if cid not in LIGHT_CALLS)

    async def push(self, body: Any, request: Any, username: str | None) -> Any:
        if body.fn_index is not None and self.heavy_max_size is not None:
            fn = route_utils.get_fn(self.blocks, None, body)
            waiting = self.waiting_heavy()
            if fn.concurrency_id not in LIGHT_CALLS and waiting >= self.heavy_max_size:
                return False, words.QUEUE_FULL.format(limit=self.heavy_max_size, waiting=waiting), "queue_full"
        return await super().push(body, request, username)


def enable_queue(demo: gr.Blocks, concurrency: int, max_size: int | None) -> None:
    """Turn on the app's queue: `concurrency` heavy handlers of a kind at once by default, at most `max_size` heavy
    requests waiting; light calls always get through."""
    demo.queue(default_concurrency_limit=concurrency, max_size=None)
    demo._queue.__class__ = LightFirstQueue
    demo._queue.heavy_max_size = max_size
