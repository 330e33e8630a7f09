"""Whether the Hugging Face hub can be reached, asked before the first download.

    hub id ─► require_hub ─┬─► a local folder, a cached copy, or the hub's host answers: go on
                           └─► HubUnreachable, within HUB_CONNECT_S

Decisions, in one place:

- Asked where the hub is first contacted (the model's snapshot, a tokenizer by hub id) and by
  the CLI before it imports the model libraries: on a machine without a network the
  libraries' own retries took 11 s (`ask`) and 55 s (`context`) to fail, with no hint.
- A local folder never needs the hub, and a hub id with a copy in the hub cache is let
  through: the libraries read the cache when the hub is down.
- HF_HUB_OFFLINE (huggingface_hub's own switch, and TRANSFORMERS_OFFLINE) means unreachable,
  without trying.
- One TCP connect to the hub's host (HF_ENDPOINT honoured) of at most HUB_CONNECT_S: a
  machine without DNS fails at once, a dropped connection within that time. Behind a proxy
  (HTTPS_PROXY / ALL_PROXY) a direct connect proves nothing, so nothing is checked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from .errors import HubUnreachable

# A connect to a CDN-fronted host takes tens of milliseconds; 3 s covers a slow link without
# making an offline machine wait long.
HUB_CONNECT_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
HINT = (
    "pass --model with a local folder (python -m searchduel tiny-model models/tiny makes a "
    "test model)"
)


def require_hub(name: str) -> None:
    """Return when `name` (a hub id or a folder) can be loaded without reaching the hub or
    the hub answers; else raise HubUnreachable with the way out."""
    if not name or Path(name).expanduser().exists() or _cached(name):
        return
    why = unreachable()
    if why:
        raise HubUnreachable(f"the model hub cannot be reached to fetch {name} ({why}); {HINT}")


def unreachable() -> str:
    """Why the hub cannot be reached, or "" when it answers (or a proxy hides the answer)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return ""
    url = urlsplit(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=HUB_CONNECT_S):
            return ""
    except socket.gaierror:
        return f"{host} does not resolve: this machine looks offline"
    except OSError as exc:
        return f"no connection to {host}: {exc.strerror or type(exc).__name__}"


def _cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("config.json", "tokenizer_config.json"):
        try:
            if isinstance(try_to_load_from_cache(name, filename), str):
                return True
        except Exception:  # not a valid hub id: the library says so itself, without the hub
            return True
    return False
