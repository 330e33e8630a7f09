"""How the page is served: launch settings, and the limits a public server needs that the
page itself cannot enforce.

    launch_kwargs(settings) ─► demo.launch(...): theme, page.css / page.js, the corpus route,
                               the upload cap, no forwarded-header trust in uvicorn
    cap_client_queue(demo, settings) ─► Queue.push refuses a client past --client-queue

Decisions, in one place:

- The client address is ours to work out (limits.client_address, `--proxy-hops`): uvicorn's
  own trust of X-Forwarded-For from 127.0.0.1 is turned off (FORWARDED_ALLOW_IPS=""),
  or any local client could pass for any address and slip past every per-address limit.
- One client address may have at most `--client-queue` events waiting or running in
  Gradio's queue; past that, its `queue/join` is refused at once (400, with the reason), so
  one client posting twenty joins cannot fill the queue everyone shares. This wraps the
  queue's `push` (Gradio has no per-client bound); a test against the pinned Gradio keeps it
  honest.
- Uploads are capped at `--max-file-mb` by Gradio itself (`max_file_size`), before a file is
  stored.
- The corpus folder is not one of Gradio's allowed paths: its documents are served as text by
  files.corpus_route.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import Settings
from ..limits import proxy_hops, request_address
from .files import corpus_route

HERE = Path(__file__).resolve().parent
CSS_PATH = HERE / "page.css"
JS_PATH = HERE / "page.js"
log = logging.getLogger(__name__)


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for demo.launch(): in Gradio 6 theme, css and head go here, not to Blocks().
    Also turns off uvicorn's trust of forwarded headers (see the module docstring)."""
    os.environ["FORWARDED_ALLOW_IPS"] = ""
    routes = [corpus_route(settings.corpus)] if settings.corpus else []
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "theme": gr.themes.Soft(),
        "css": CSS_PATH.read_text("utf-8"),
        "head": f"<script>{JS_PATH.read_text('utf-8')}</script>",
        "app_kwargs": {"routes": routes},
        "max_file_size": settings.max_file_mb * 1_000_000,
        "show_error": True,
    }


def cap_client_queue(demo: gr.Blocks, settings: Settings) -> None:
    """Refuse a client's `queue/join` while it has `settings.client_queue` events waiting or
    running (call after demo.queue())."""
    limit = settings.client_queue
    queue = getattr(demo, "_queue", None)
    if limit <= 0 or queue is None:
        return
    hops = proxy_hops(settings.proxy_hops)
    push = queue.push

    async def capped_push(body: Any, request: Any, username: Any) -> Any:
        address = request_address(request, hops)
        waiting = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
        running = [e for job in queue.active_jobs if job for e in job]
        mine = sum(1 for e in (*waiting, *running) if _address(e, hops) == address)
        if mine >= limit:
            log.info("queue: refused a join from a client with %d requests in flight", mine)
            return (
                False,
                f"You have {mine} requests waiting or running already; wait for them to end.",
                "error",
            )
        return await push(body=body, request=request, username=username)

    queue.push = capped_push


def _address(event: Any, hops: int) -> str:
    return request_address(getattr(event, "request", None), hops)
