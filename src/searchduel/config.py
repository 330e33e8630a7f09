"""Settings: one frozen object, read once from SEARCHDUEL_* variables and command-line flags.

Every setting is declared once in SPECS (name, flag, variable, type, default, choices, help);
the CLI, app.py and the README's table are all generated from it. Flags beat variables,
variables beat defaults. A bad value raises ConfigError naming the variable and valid values.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "SEARCHDUEL_"
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_CORPUS = ASSETS_DIR / "corpus"

# --- Budgets: every limit the pipeline obeys, in one place -------------------------------
DEFAULT_MODEL = "microsoft/Phi-3-mini-4k-instruct"
# The model's own 4-bit GGUF, for llama.cpp on a CPU (--backend llamacpp, and auto without
# CUDA): Microsoft's Q4 export is 2.4 GB, where the safetensors in fp32 take 15.3 GB, more
# than a free 16 GB Space holds. Keyed by the model id and by the GGUF repo itself.
DEFAULT_GGUF = ("microsoft/Phi-3-mini-4k-instruct-gguf", "Phi-3-mini-4k-instruct-q4.gguf")
KNOWN_GGUF = {DEFAULT_MODEL: DEFAULT_GGUF, DEFAULT_GGUF[0]: DEFAULT_GGUF}
BACKENDS = ("auto", "transformers", "llamacpp", "openai", "demo")
# Phi-3-mini-4k's max_position_embeddings; used when a backend cannot tell us its window.
DEFAULT_CONTEXT_WINDOW = 4096
# Long enough for a useful answer, short enough that two answers fit a CPU demo in minutes.
MAX_NEW_TOKENS = 384
# Upper bound on the sources block: measured (bench retrieval) to hold the answer for >0.95
# of questions while leaving room for instructions, the question and the answer.
CONTEXT_TOKENS = 2000
MAX_PAGES = 8  # pages fetched in parallel: DuckDuckGo's first page has ~10 organic results
ENOUGH_PAGES = 4  # stop waiting once this many usable pages are in
PAGE_DEADLINE_S = 6.0  # one page, connect to last byte; slow sites rarely add evidence
PHASE_DEADLINE_S = 10.0  # the whole fetch phase; the plain column is already streaming
MAX_PAGE_BYTES = 2_000_000  # decoded body cap: long articles are ~300 KB of HTML
MAX_REDIRECTS = 3  # hops followed per page, each re-checked by the address guard
PER_HOST_CONNECTIONS = 2  # requests at once to one host: polite, and results rarely share hosts
PAGE_CACHE_TTL_S = 600.0  # page lifetime without Cache-Control: one session's follow-up questions
PAGE_CACHE_MAX_TTL_S = 3600.0  # cap on a server's max-age: search answers should stay fresh
PAGE_CACHE_ENTRIES = 256  # ~32 questions' worth of pages; extracted text is ~10-50 KB each
# ...and at most this many bytes of page text: 256 typical pages take ~8 MB, but a page's text
# may be up to MAX_PAGE_BYTES, so entries alone would allow ~500 MB on a public Space.
PAGE_CACHE_BYTES = 32_000_000
SEARCH_TIMEOUT_S = 8.0  # one provider request
SEARCH_HITS = 10  # hits requested from the provider
# The whole provider chain for one query (fallbacks and the one retry included): a block is
# reported within a few seconds, a slow provider still gets one full SEARCH_TIMEOUT_S try.
SEARCH_BUDGET_S = 20.0
# A blocked provider rests this long before one probe request: DuckDuckGo's bot challenge
# typically lifts after minutes, and hammering it meanwhile extends the ban.
BLOCK_COOLDOWN_S = 900.0
SEARCH_CACHE_TTL_S = 900.0  # same query within 15 min: results barely change, requests cost
# Search results kept, in bytes of text: ten hits are ~3 KB, so 256 queries take < 1 MB; the
# cap stops hostile result pages (huge titles and snippets) from growing the cache.
SEARCH_CACHE_BYTES = 4_000_000
# A web provider whose host does not resolve or refuses the connection (no network, a wrong
# --ddg-url) rests this long, so the next questions go straight to the next provider; a
# minute is short enough that a network coming back is noticed within one demo session.
UNREACHABLE_COOLDOWN_S = 60.0
# An offline-corpus answer given because the web failed is reused for the same question this
# long (never past the moment a resting web provider may be tried again): a visitor asking
# twice gets it from memory instead of a second walk down the chain.
FALLBACK_CACHE_TTL_S = 60.0
PROVIDER_SPACING_S = 1.0  # least gap between two requests to one provider (politeness)
# --- Limits on what one request may ask (inputs.py enforces them for the UI, API and CLI) --
# A question is a sentence or a paragraph; 2,000 characters (~500 tokens) leaves the 4k window
# room for the sources and the answer, and refuses the 1 MB paste before it costs anything.
MAX_PROMPT_CHARS = 2000
# Most new tokens a request may ask for: a quarter of Phi-3-mini's 4k window, so the prompt
# and ~2k tokens of sources still fit; the page's slider goes higher, the server lowers it.
MAX_NEW_TOKENS_CAP = 1024
PAGES_CAP = 10  # pages one request may ask to read: DuckDuckGo's first page of results
# Comparisons one client (address) may start per minute. A comparison takes 10-60 s on a CPU
# Space, so a person reading answers starts a few a minute; a script looping on /compare is
# held to the same pace and the queue stays free for others. A Batch tab question counts as one.
RATE_LIMIT = 6
# Votes one client address may cast per hour. A person reads two answers before voting (a
# minute or more each), so 30 an hour is a busy evening of honest voting; a script minting
# sessions is held to the same count, and what it is refused is counted in the store.
VOTE_LIMIT = 30
# Queued events (comparisons, batches, Results refreshes) one client address may have waiting
# or running at once: a visitor's page has at most two in flight; a client posting twenty
# `queue/join`s is refused past this instead of filling the queue everyone shares.
CLIENT_QUEUE = 4
# Largest upload the server accepts, in MB (Gradio's max_file_size): the only upload is the
# Batch tab's question file (BATCH_FILE_BYTES), and a 50 MB file is refused before it is kept.
MAX_FILE_MB = 1
# The store refuses new comparisons politely once its file reaches this size (MB) or the disk
# holding it has less than STORE_DISK_RESERVE_MB free: a comparison is ~20 KB (sources kept
# verbatim), so 1 GB holds ~50,000 of them, and the reserve keeps the machine writable.
STORE_MAX_MB = 1024
STORE_DISK_RESERVE_MB = 200
# Temporary files the page makes for a visitor (Download JSON, exports, batch reports) are
# removed this long after they were written: long enough to click a download link.
TEMP_FILE_TTL_S = 600.0
# Where the page serves the offline corpus's documents (as text; ui/files.py), by their name
# relative to the corpus folder: links carry no server path.
CORPUS_ROUTE = "/corpus/"
# glibc malloc arenas (memory.py): each allocating thread may otherwise get its own, never
# returned; 2 is the usual cap for threaded Python servers (bench load measures the effect).
MALLOC_ARENAS = 2
QUEUE_SIZE = 16  # requests waiting for the shared local model before "busy"
# Questions the page's Batch tab runs from one uploaded file: each is a full comparison
# (~20-40 s for Phi-3-mini on 2 CPU cores), so 20 is about ten minutes of the shared model;
# bigger sets belong to `python -m searchduel eval`, which has no cap.
BATCH_QUESTIONS = 20
# Batches the page runs at once, server-wide (and one per client address): each is ~10 minutes
# of the shared model, so one at a time leaves it to visitors' comparisons the rest of the time.
BATCH_CONCURRENCY = 1
# Largest question file the page takes, in bytes: it runs at most BATCH_QUESTIONS questions,
# and 1 MB holds thousands (a question is ~100 bytes, a line with reference answers a few
# hundred); bigger sets belong to `eval`. Gradio refuses bigger uploads (max_file_size) and
# the parser refuses them again before reading.
BATCH_FILE_BYTES = 1_000_000
# Comparisons the app runs at once; each runs two streams and the backend gate queues those
# beyond its slots, so the gate always has room for 2 x this many streams on top of QUEUE_SIZE
# (a running comparison must never be told "busy" for its second column).
COMPARE_CONCURRENCY = 4
# Longest the search column waits for the plain column's first token before it starts its own
# CPU work (bench engine: searching the local corpus beside the plain column's prefill made the
# tiny model's first token 2.8x later). Web search takes seconds, so 0.25 s costs it little.
PLAIN_HEAD_START_S = 0.25
# How often a page asks the model loader for its stage while the model downloads or loads:
# half a second reads as live for a download of minutes and costs one tiny request per tick.
LOAD_POLL_S = 0.5
# After an answer's first piece (handed out at once), pieces are handed out in batches at most
# this often: a wake-up of the reading threads per token cost a fast model ~12% of its
# throughput (bench engine), and no reader sees 30 ms.
STREAM_FLUSH_S = 0.03
# A running comparison's tokens reach the page at most this often (render.live.Pacer; stage
# words, errors, a column's end and the judge's marks go at once). Each update costs the
# browser a whole re-render of both answers: with one per batch of tokens, bench page (1,024
# tokens, 2 busy loops, 2-core CPU) saw 430-470 answer updates keep Chromium's main thread
# busy 11-12 s in a 10-18 s comparison, and Stop take up to 1.7 s to settle; at 0.1 s, 40-70
# updates, 1.4-3 s and 0.2 s. Ten updates a second still reads as live text.
PAGE_FLUSH_S = 0.1

# --- The store and the vote statistics -----------------------------------------------------
# Hugging Face Spaces mounts persistent storage at /data; elsewhere ./data (cwd) is used.
SPACES_DATA_DIR = "/data"
LOCAL_DATA_DIR = "data"
STORE_FILE = "searchduel.sqlite3"  # the one SQLite file under the data folder
# How long a writer waits for another process's write lock before failing: a comparison is
# stored in ~1 ms (bench store), so 10 s is only ever reached by a stuck process.
STORE_BUSY_TIMEOUT_S = 10.0
# Longest vote reason kept, in characters: one line, about a tweet; longer is refused, not cut.
MAX_VOTE_REASON_CHARS = 280
# Bootstrap resamples for the ties-as-half interval: 1,000 is the usual floor for percentile
# intervals (Efron & Tibshirani 1993, ch. 13) and keeps the Results view under 1 s at 10k votes.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed, so the same votes always show the same interval
# Edges (characters, search answer minus plain answer) of the length-bias bins: a 384-token
# answer is ~1,500 characters, so +-1,000 covers nearly every pair; +-100 is "about equal".
LENGTH_BIAS_EDGES = (-1000, -300, -100, 100, 300, 1000)
# Points kept of the cumulative-share curve: a chart is ~600 px wide, more points draw nothing.
CURVE_POINTS = 400
# Decisive votes before the Results tab draws the share over time and by answer length: with
# fewer, the curve is a dot or two and most length bins are empty, so the tab says so instead.
CHART_MIN_DECISIVE = 5
# The page's history of a browser's comparisons: localStorage key (fixed, so the list survives
# restarts and redeploys) and how many entries it keeps (a side panel of 20 prompts is a
# screenful; older ones stay reachable through their permalinks).
HISTORY_STORAGE_KEY = "searchduel-history"
HISTORY_ITEMS = 20


def _parse_bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _parse_cidrs(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        item = item.strip()
        if item:
            out.append(str(ipaddress.ip_network(item, strict=False)))
    return tuple(out)


def looks_like_path(name: str) -> bool:
    """A --model / --tokenizer value meant as a folder or file rather than a hub id: it starts
    with '.', '/' or '~', names a .gguf file, or its parent folder exists here (hub ids are
    "owner/name")."""
    if name.startswith((".", "/", "~")) or "\\" in name or name.endswith(".gguf"):
        return True
    parent = Path(name).parent
    return str(parent) not in ("", ".") and parent.is_dir()


def _parse_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value


@dataclass(frozen=True)
class Spec:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    repeat: bool = False  # flag may be given several times (joined like a comma list)
    secret: bool = False  # env only: never a flag value in shell history
    env_aliases: tuple[str, ...] = ()  # further variable names read when the main one is unset

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SPECS: tuple[Spec, ...] = (
    Spec(
        "model",
        DEFAULT_MODEL,
        "hub id, local folder or .gguf file of the model (served name for --backend openai)",
    ),
    Spec(
        "backend",
        "auto",
        "where the model runs; auto = transformers on CUDA, else llama.cpp when "
        "llama-cpp-python is installed and the model has a GGUF, else transformers on the CPU; "
        "demo = no model: answers copied from the sources, to show the judge",
        choices=BACKENDS,
    ),
    Spec(
        "gguf_file",
        "",
        "GGUF file name in the --model hub repo or folder (llama.cpp); empty = the model's "
        "known Q4 GGUF, or the folder's only .gguf",
    ),
    Spec("base_url", "", "OpenAI-compatible server, e.g. http://localhost:8000/v1", _parse_url),
    Spec("api_key", "", "bearer token for --backend openai", secret=True),
    Spec(
        "tokenizer",
        "",
        "hub id or folder of the tokenizer for exact counts (openai backend); for llama.cpp, "
        "of the chat template when the GGUF has none",
    ),
    Spec(
        "quantize",
        "auto",
        "weights on CUDA: auto = 4bit on CUDA, none on CPU",
        choices=("auto", "4bit", "8bit", "none"),
    ),
    Spec("context_window", 0, "model window in tokens; 0 = read it from the model config", int),
    Spec(
        "memory_check",
        True,
        "refuse, before loading, weights that do not fit the memory left (false: load anyway)",
        _parse_bool,
    ),
    Spec(
        "search",
        "auto",
        "search provider; auto = the chain in --search-order",
        choices=("auto", "duckduckgo", "searxng", "local", "off"),
    ),
    Spec("search_order", "duckduckgo,searxng,local", "providers tried by --search auto"),
    Spec("corpus", str(DEFAULT_CORPUS), "folder of .html/.htm/.md/.txt for --search local"),
    Spec(
        "ddg_url",
        "https://html.duckduckgo.com",
        "scheme and host for DuckDuckGo (html and lite)",
        _parse_url,
    ),
    Spec("searxng_url", "", "SearXNG instance, e.g. http://localhost:8888", _parse_url),
    Spec(
        "unreachable_cooldown",
        UNREACHABLE_COOLDOWN_S,
        "seconds a web provider rests after its host did not resolve or refused to connect",
        float,
    ),
    Spec(
        "fallback_cache",
        FALLBACK_CACHE_TTL_S,
        "seconds an offline-corpus fallback answer is reused for the same question",
        float,
    ),
    Spec("region", "wt-wt", "DuckDuckGo region (kl), e.g. us-en, wt-wt"),
    Spec("max_new_tokens", MAX_NEW_TOKENS, "tokens each answer may generate", int),
    Spec("temperature", 0.0, "0 = greedy (the default: fair and repeatable)", float),
    Spec("seed", 0, "sampling seed when temperature > 0", int),
    Spec("context_tokens", CONTEXT_TOKENS, "most tokens the sources may take in the prompt", int),
    Spec("pages", MAX_PAGES, "pages to read per question", int),
    Spec("enough_pages", ENOUGH_PAGES, "stop fetching once this many pages are usable", int),
    Spec("page_deadline", PAGE_DEADLINE_S, "seconds for one page", float),
    Spec("phase_deadline", PHASE_DEADLINE_S, "seconds for the whole fetch phase", float),
    Spec("max_page_bytes", MAX_PAGE_BYTES, "decoded bytes kept of one page", int),
    Spec("dense", True, "re-rank with a dense model (all-MiniLM-L6-v2) besides BM25", _parse_bool),
    Spec(
        "allow_address",
        (),
        "CIDR treated as public by the fetch guard (tests, intranets)",
        _parse_cidrs,
        repeat=True,
        env_aliases=(ENV_PREFIX + "ALLOW_ADDRESSES",),
    ),
    Spec("queue_size", QUEUE_SIZE, "requests that may wait for the local model", int),
    Spec(
        "data_dir",
        "",
        "folder of the comparison store; empty = /data when writable (Spaces), else ./data",
    ),
    Spec(
        "store", True, "keep comparisons and votes (false: nothing stored, no votes)", _parse_bool
    ),
    Spec(
        "blind",
        False,
        "start the page blind: answers as A / B at random, sources hidden until the vote",
        _parse_bool,
    ),
    Spec(
        "history_secret",
        "",
        "server key that signs each browser's voter id; empty = derived from the store's salt",
        secret=True,
    ),
    Spec(
        "session_salt",
        "",
        "secret mixed into session hashes; empty = a random salt kept in the store",
        secret=True,
    ),
    Spec("max_prompt_chars", MAX_PROMPT_CHARS, "longest question accepted, in characters", int),
    Spec(
        "max_new_tokens_cap",
        MAX_NEW_TOKENS_CAP,
        "most new tokens a request may ask for (higher asks are lowered to it)",
        int,
    ),
    Spec("pages_cap", PAGES_CAP, "most pages a request may ask to read", int),
    Spec(
        "batch_questions",
        BATCH_QUESTIONS,
        "most questions the page's Batch tab runs from one file (the eval CLI has no cap)",
        int,
    ),
    Spec(
        "batch_concurrency",
        BATCH_CONCURRENCY,
        "batches the Batch tab runs at once, server-wide (one per client address)",
        int,
    ),
    Spec(
        "rate_limit",
        RATE_LIMIT,
        "comparisons one client may start per minute, a batch's questions too (0 = no limit)",
        int,
    ),
    Spec(
        "proxy_hops",
        -1,
        "trusted proxies in front of the app, for the client address; -1 = 1 on Spaces, else 0",
        int,
    ),
    Spec("vote_limit", VOTE_LIMIT, "votes one client may cast per hour (0 = no limit)", int),
    Spec(
        "client_queue",
        CLIENT_QUEUE,
        "queued requests one client may have waiting or running at once (0 = no limit)",
        int,
    ),
    Spec("max_file_mb", MAX_FILE_MB, "largest upload accepted, in MB", int),
    Spec(
        "store_max_mb",
        STORE_MAX_MB,
        "size in MB at which the store stops taking new comparisons (0 = no cap)",
        int,
    ),
    Spec(
        "admin_token",
        "",
        "operator token: typed in the Results tab it unlocks raw exports; empty = no export "
        "in the page (the CLI's export always works)",
    ),
    Spec(
        "malloc_arenas",
        MALLOC_ARENAS,
        "cap on glibc malloc arenas, so memory plateaus under load (0 = leave as is)",
        int,
    ),
    Spec(
        "log_prompts",
        False,
        "put the prompt's text in the per-comparison log line (off: its length only)",
        _parse_bool,
    ),
    Spec("host", "127.0.0.1", "address app.py listens on (0.0.0.0 on Spaces)"),
    Spec("port", 7860, "port app.py listens on (GRADIO_SERVER_PORT also works)", int),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    backend: str = "auto"
    gguf_file: str = ""
    base_url: str = ""
    api_key: str = ""
    tokenizer: str = ""
    quantize: str = "auto"
    context_window: int = 0
    memory_check: bool = True
    search: str = "auto"
    search_order: str = "duckduckgo,searxng,local"
    corpus: str = str(DEFAULT_CORPUS)
    ddg_url: str = "https://html.duckduckgo.com"
    searxng_url: str = ""
    unreachable_cooldown: float = UNREACHABLE_COOLDOWN_S
    fallback_cache: float = FALLBACK_CACHE_TTL_S
    region: str = "wt-wt"
    max_new_tokens: int = MAX_NEW_TOKENS
    temperature: float = 0.0
    seed: int = 0
    context_tokens: int = CONTEXT_TOKENS
    pages: int = MAX_PAGES
    enough_pages: int = ENOUGH_PAGES
    page_deadline: float = PAGE_DEADLINE_S
    phase_deadline: float = PHASE_DEADLINE_S
    max_page_bytes: int = MAX_PAGE_BYTES
    dense: bool = True
    allow_address: tuple[str, ...] = ()
    queue_size: int = QUEUE_SIZE
    data_dir: str = ""
    store: bool = True
    blind: bool = False
    history_secret: str = ""
    session_salt: str = ""
    max_prompt_chars: int = MAX_PROMPT_CHARS
    max_new_tokens_cap: int = MAX_NEW_TOKENS_CAP
    pages_cap: int = PAGES_CAP
    batch_questions: int = BATCH_QUESTIONS
    batch_concurrency: int = BATCH_CONCURRENCY
    rate_limit: int = RATE_LIMIT
    proxy_hops: int = -1
    vote_limit: int = VOTE_LIMIT
    client_queue: int = CLIENT_QUEUE
    max_file_mb: int = MAX_FILE_MB
    store_max_mb: int = STORE_MAX_MB
    admin_token: str = ""
    malloc_arenas: int = MALLOC_ARENAS
    log_prompts: bool = False
    host: str = "127.0.0.1"
    port: int = 7860

    def __post_init__(self) -> None:
        for spec in SPECS:
            value = getattr(self, spec.name)
            if spec.choices and value not in spec.choices:
                raise ConfigError(_bad(spec, value, f"valid values: {', '.join(spec.choices)}"))
        order = [p.strip() for p in self.search_order.split(",") if p.strip()]
        valid = ("duckduckgo", "searxng", "local")
        if not order or any(p not in valid for p in order):
            raise ConfigError(
                _bad(
                    SPEC_BY_NAME["search_order"],
                    self.search_order,
                    f"a comma list of: {', '.join(valid)}",
                )
            )
        positive = (
            "max_new_tokens",
            "context_tokens",
            "pages",
            "enough_pages",
            "max_page_bytes",
            "queue_size",
            "max_prompt_chars",
            "max_new_tokens_cap",
            "pages_cap",
            "batch_questions",
            "max_file_mb",
            "batch_concurrency",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(_bad(SPEC_BY_NAME[name], getattr(self, name), "a number above 0"))
        for name in ("page_deadline", "phase_deadline"):
            if getattr(self, name) <= 0:
                raise ConfigError(_bad(SPEC_BY_NAME[name], getattr(self, name), "seconds above 0"))
        for name in ("rate_limit", "vote_limit", "client_queue", "store_max_mb"):
            if getattr(self, name) < 0:
                raise ConfigError(_bad(SPEC_BY_NAME[name], getattr(self, name), "0 or more"))
        if self.proxy_hops < -1:
            raise ConfigError(_bad(SPEC_BY_NAME["proxy_hops"], self.proxy_hops, "-1 or more"))
        if self.temperature < 0 or self.temperature > 2:
            raise ConfigError(_bad(SPEC_BY_NAME["temperature"], self.temperature, "0 to 2"))
        if not 0 < self.port < 65536:
            raise ConfigError(_bad(SPEC_BY_NAME["port"], self.port, "1 to 65535"))
        if self.backend == "openai" and not self.base_url:
            raise ConfigError(
                "--backend openai needs a server: set --base-url or SEARCHDUEL_BASE_URL "
                "(e.g. http://localhost:8000/v1)"
            )

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers the search column tries, in order."""
        if self.search == "off":
            return ()
        if self.search == "auto":
            return tuple(p.strip() for p in self.search_order.split(",") if p.strip())
        return (self.search,)

    @property
    def store_path(self) -> Path:
        """The SQLite file of the comparison store (see data_dir)."""
        return Path(self.data_dir or default_data_dir()) / STORE_FILE

    def replace(self, **changes: Any) -> Settings:
        from dataclasses import replace

        return replace(self, **changes)

    @classmethod
    def load(
        cls,
        args: argparse.Namespace | Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        check_paths: bool = True,
    ) -> Settings:
        """Build settings: flags (given, not None) beat variables, variables beat defaults.
        `check_paths=False` leaves a missing model folder to the loader (the app explains it
        on its page, which keeps serving)."""
        environ = os.environ if environ is None else environ
        given = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
        values: dict[str, Any] = {}
        for spec in SPECS:
            raw = given.get(spec.name)
            source = spec.flag
            if raw is None or (spec.repeat and raw == []):
                raw, source = None, spec.env
                for name in (spec.env, *spec.env_aliases):
                    if environ.get(name) is not None:
                        raw, source = environ[name], name
                        break
            if raw is None:
                continue
            values[spec.name] = _convert(spec, raw, source)
        if "port" not in values and environ.get("GRADIO_SERVER_PORT"):
            values["port"] = _convert(
                SPEC_BY_NAME["port"], environ["GRADIO_SERVER_PORT"], "GRADIO_SERVER_PORT"
            )
        settings = cls(**values)
        if check_paths:
            settings.check_local_paths()
        return settings

    def check_local_paths(self) -> None:
        """A --model / --tokenizer given as a path must exist: said here, before a hub lookup
        turns the typo into a network error. (The page explains the same case when a folder
        vanishes after start-up.) A model may also be a .gguf file (llama.cpp)."""
        if self.backend in ("openai", "demo"):  # a served name; no model at all
            return
        for name in ("model", "tokenizer"):
            value = getattr(self, name)
            if not value or not looks_like_path(value):
                continue
            path = Path(value).expanduser()
            gguf = name == "model" and value.endswith(".gguf")
            if path.is_dir() or (gguf and path.is_file()):
                continue
            what = "file" if gguf else "folder"
            raise ConfigError(
                _bad(
                    SPEC_BY_NAME[name],
                    value,
                    f"no such {what} (a local model folder or .gguf file must exist; a hub id "
                    "looks like owner/name)",
                )
            )


def default_data_dir() -> str:
    """/data when it exists and is writable (Spaces persistent storage), else ./data."""
    if os.path.isdir(SPACES_DATA_DIR) and os.access(SPACES_DATA_DIR, os.W_OK | os.X_OK):
        return SPACES_DATA_DIR
    return LOCAL_DATA_DIR


def _bad(spec: Spec, value: Any, valid: str) -> str:
    return f"bad value {value!r} for {spec.flag} / {spec.env}: {valid}"


_NUMBER_KINDS: dict[Any, str] = {int: "a whole number", float: "a number"}


def _convert(spec: Spec, raw: Any, source: str) -> Any:
    if not isinstance(raw, str) and not (spec.repeat and isinstance(raw, (list, tuple))):
        return raw  # already typed (programmatic use)
    try:
        if spec.repeat and isinstance(raw, (list, tuple)):
            return spec.parse(raw)
        return spec.parse(raw)
    except ValueError as exc:
        valid = f"valid values: {', '.join(spec.choices)}" if spec.choices else str(exc)
        if spec.parse in _NUMBER_KINDS:  # int("abc") says "invalid literal ... base 10"
            valid = f"expected {_NUMBER_KINDS[spec.parse]}, e.g. {spec.default}"
        raise ConfigError(f"bad value {raw!r} for {source} ({spec.env}): {valid}") from None


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add every setting as a flag (default None, so unset flags fall through to env)."""
    group = parser.add_argument_group("settings (each also a SEARCHDUEL_* variable)")
    for spec in SPECS:
        if spec.secret:
            continue
        kwargs: dict[str, Any] = {"default": None, "help": f"{spec.help} [{spec.env}]"}
        if spec.repeat:
            kwargs.update(action="append", default=[])
        if spec.choices:
            kwargs["metavar"] = "{" + ",".join(spec.choices) + "}"
        group.add_argument(spec.flag, dest=spec.name, **kwargs)


def settings_table() -> str:
    """Markdown table of every setting, for the README."""
    rows = ["| flag | variable | default | meaning |", "|---|---|---|---|"]
    for spec in SPECS:
        default = spec.default
        if spec.name == "corpus":
            default = "assets/corpus"
        default = ",".join(default) if isinstance(default, tuple) else default
        flag = "(env only)" if spec.secret else f"`{spec.flag}`"
        choices = f" ({' / '.join(spec.choices)})" if spec.choices else ""
        env = " or ".join(f"`{name}`" for name in (spec.env, *spec.env_aliases))
        rows.append(f"| {flag} | {env} | `{default}` | {spec.help}{choices} |")
    return "\n".join(rows)


assert {f.name for f in fields(Settings)} == set(SPEC_BY_NAME), "Settings and SPECS disagree"
