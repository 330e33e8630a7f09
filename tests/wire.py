"""A client that speaks Gradio's wire protocol as an attacker would: any event by its
`fn_index` (read from /config by its trigger's element id), any data, any session hash, any
header. Gradio's client libraries hide "private" events; the wire does not.

    wire = Wire(url)
    wire.fn_index("vote-tie")                       # the click event of #vote-tie
    wire.run("history", [cid, None], session="s1", trigger="input")   # queued or not
    wire.join(fn, data, session)                     # one queue/join, its HTTP status
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


class Wire:
    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.url = url.rstrip("/")
        self.http = httpx.Client(trust_env=False, timeout=60, headers=headers or {})
        self.config = self.http.get(f"{self.url}/config").json()
        self.ids = {
            c.get("props", {}).get("elem_id"): c["id"]
            for c in self.config["components"]
            if c.get("props", {}).get("elem_id")
        }

    def close(self) -> None:
        self.http.close()

    def dependency(self, elem_id: str, trigger: str = "click") -> dict[str, Any]:
        """The event that `trigger` on the element `elem_id` fires (KeyError if none)."""
        component = self.ids[elem_id]
        for dep in self.config["dependencies"]:
            if [component, trigger] in [list(t) for t in dep.get("targets", [])]:
                return dep
        raise KeyError(f"no {trigger} event on #{elem_id}")

    def by_api_name(self, name: str) -> dict[str, Any]:
        """The event Gradio names `name` (its api_name, private events included)."""
        (dep,) = [d for d in self.config["dependencies"] if d.get("api_name") == name]
        return dep

    def fn_index(self, elem_id: str, trigger: str = "click") -> int:
        return self.dependency(elem_id, trigger)["id"]

    def has_event(self, elem_id: str, trigger: str = "click") -> bool:
        try:
            self.dependency(elem_id, trigger)
        except KeyError:
            return False
        return True

    def join(
        self, fn_index: int, data: list[Any], session: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None}
        return self.http.post(f"{self.url}/gradio_api/queue/join", json=body, headers=headers)

    def messages(self, session: str, until_events: int = 1, timeout: float = 120) -> list[dict]:
        """The session's queue messages until `until_events` events have completed."""
        out, done = [], 0
        with self.http.stream(
            "GET",
            f"{self.url}/gradio_api/queue/data",
            params={"session_hash": session},
            timeout=timeout,
        ) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                out.append(message)
                if message.get("msg") == "process_completed":
                    done += 1
                    if done >= until_events:
                        break
                if message.get("msg") == "close_stream":
                    break
        return out

    def run(
        self,
        elem_id: str,
        data: list[Any],
        session: str | None = None,
        trigger: str = "click",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Fire one event (by its element id, or "api:NAME" for its api_name) and wait for
        it: {"ok", "output" (data list), "warnings", "error"}. Queued events go through
        queue/join, the others through run/predict (with `params` as the page's query)."""
        session = session or secrets.token_hex(6)
        if elem_id.startswith("api:"):
            dep = self.by_api_name(elem_id[4:])
        else:
            dep = self.dependency(elem_id, trigger)
        if not dep.get("queue", True):
            r = self.http.post(
                f"{self.url}/gradio_api/run/predict",
                json={"data": data, "fn_index": dep["id"], "session_hash": session},
                headers=headers,
                params=params,
            )
            body = r.json()
            return {"ok": r.status_code == 200, "output": body.get("data"), "warnings": [],
                    "error": body.get("error")}  # fmt: skip
        r = self.join(dep["id"], data, session, headers)
        if r.status_code != 200:
            return {"ok": False, "output": None, "warnings": [], "error": r.text}
        messages = self.messages(session)
        warnings = [m.get("log", "") for m in messages if m.get("msg") == "log"]
        (final,) = [m for m in messages if m.get("msg") == "process_completed"]
        output = final.get("output") or {}
        return {"ok": bool(final.get("success")), "output": output.get("data"),
                "warnings": warnings, "error": output.get("error")}  # fmt: skip
