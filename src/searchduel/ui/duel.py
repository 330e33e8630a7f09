"""The Duel tab's prompt row and two columns, and one comparison from Ask to its end.

    Ask / Enter / an example ─► Duel.lock ─► Duel.compare (one generator, both columns)
                                               ├─► render.live.LiveView ─► the nine outputs
                                               └─► store.save(comparison_from_events(...))
                                 ─► Duel.unlock ─► the stored comparison shown (`show`), votes on
    Stop ─► Duel.stop_now ─► the engine's stop event (compare ends normally, unlock resets)

Decisions, in one place:

- One comparison at a time per browser (Runs): while it runs, Ask reads "Running…" and is
  disabled, and Stop is enabled (only then). A second Ask that still reaches the server (a
  double click, the API) is refused with a warning and the running one goes on.
- One event yields both columns (two listeners on one button would run one after the other
  in the browser). `compare` is the API's /compare; `lock` and `unlock` are private steps
  around it. Examples run on click through the same chain. The prompt is never cleared.
- An API call to /compare made while the model loads waits for it (the page's Ask is
  disabled instead); after a failed load it gets an error saying what failed.
- Every client address may start --rate-limit comparisons a minute, page and API alike; a
  refused start is a warning on the page (everything stays as it was) and an error for an
  API caller.
- A comparison is stored when both columns ended (an answer or an error) and Stop was not
  pressed; the API's /compare is stored too.
- Blind mode (`--blind` sets the toggle's default): lock draws the left column at random and
  titles the columns A / B; compare then sends only the answers (render.live.blind_outputs),
  so nothing that tells the sides apart reaches the browser before the vote.
- The left column keeps the element ids "answer-plain", "stats-plain"... whatever it shows;
  only its title says which answer it holds.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import ASSETS_DIR, COMPARE_CONCURRENCY, PAGE_FLUSH_S, Settings
from ..errors import InvalidInput, RateLimited, StoreError
from ..inputs import check_request
from ..limits import RateLimiter, proxy_hops, request_address
from ..loader import BackendLoader
from ..render.live import OUTPUTS, LiveView, Pacer, blind_outputs
from ..store import COLUMNS, Store, comparison_from_events
from ..types import Event, RunOptions
from .history import history_choices, remember
from .votes import NO_VOTE_SEARCH_OFF, VOTE_ASK_BLIND, VOTE_LATER, Screen, VoteBar, vote_labels

PROVIDER_CHOICES = ["auto", "duckduckgo", "searxng", "local", "off"]
PLACEHOLDER = "Ask something a search would help with…  (Enter to ask, Shift+Enter: new line)"
ASK, RUNNING = "Ask", "Running…"
BUSY = "A comparison is already running: wait for it, or press Stop."
REFUSED = "refused"  # the run id a refused lock leaves: its compare and unlock do nothing
# Sessions with a comparison accepted or running at once: a few times what the queue can hold
# (COMPARE_CONCURRENCY running + QUEUE_SIZE waiting); past it the oldest stale entries go.
MAX_RUNS = 1000
log = logging.getLogger(__name__)


def load_examples() -> list[str]:
    path = ASSETS_DIR / "examples.json"
    try:
        return [str(x) for x in json.loads(path.read_text("utf-8"))]
    except (OSError, ValueError):
        return []


def session_key(request: gr.Request | None) -> str:
    """The key a run is kept under: the Gradio session (the API's calls share "api")."""
    return (request.session_hash if request is not None else None) or "api"


@dataclass
class Run:
    """One browser's comparison: accepted by lock, run by compare, released by unlock."""

    run_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    done: bool = False
    comparison_id: str = ""  # set when the finished comparison was stored
    prompt: str = ""


class Runs:
    """Which comparison each browser session is running; the only state runs share.

    An entry lives from lock to unlock (the page) or for the length of the call (the API);
    at most MAX_RUNS at once, the finished and the never-started ones dropped first, so
    sessions that lock and vanish cannot grow it."""

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self.max_runs = max_runs

    def __len__(self) -> int:
        return len(self._runs)

    def busy(self, key: str) -> bool:
        with self._lock:
            current = self._runs.get(key)
            return current is not None and not current.done

    def accept(self, key: str) -> Run | None:
        """A new run for `key`, or None while another of its runs is going (or the table is
        full of running ones)."""
        with self._lock:
            current = self._runs.get(key)
            if current is not None and not current.done:
                return None
            if key not in self._runs and len(self._runs) >= self.max_runs:
                for stale in [k for k, r in self._runs.items() if r.done or not r.started]:
                    del self._runs[stale]
                    if len(self._runs) < self.max_runs:
                        break
                else:
                    return None
            run = self._runs[key] = Run(uuid.uuid4().hex)
            return run

    def start(self, key: str, run_id: str) -> Run | None:
        """The accepted run `run_id`, marked started; None if it is not the one accepted or
        it has started already (a repeated or stale event)."""
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.run_id != run_id or run.started:
                return None
            run.started = True
            return run

    def release(self, key: str, run_id: str) -> tuple[bool, Run | None]:
        """(False, None) while another run of `key` is still going; else (True, the run
        `run_id` if it was this key's last one)."""
        with self._lock:
            run = self._runs.get(key)
            if run is not None and not run.done and not (run.run_id == run_id and not run.started):
                return False, None
            self._runs.pop(key, None)
        return True, run if run is not None and run.run_id == run_id else None

    def forget(self, key: str, run: Run) -> None:
        """Drop `run` (an API call's, which has no unlock) if it is still `key`'s entry."""
        with self._lock:
            if self._runs.get(key) is run:
                del self._runs[key]

    def stop(self, key: str) -> None:
        with self._lock:
            run = self._runs.get(key)
        if run is not None:
            run.stop.set()


@dataclass
class SearchParts:
    """What belongs to the column that searched: where its sources came from, the sources,
    the trace. Each column has a set; the one under the searching column is shown."""

    notice: gr.Markdown
    sources: gr.Markdown
    trace_fold: gr.Accordion
    trace: gr.Markdown

    def all(self) -> list[Any]:
        return [self.notice, self.sources, self.trace_fold, self.trace]


@dataclass
class Columns:
    """The two columns and what sits under them. The left one keeps the "plain" ids, the
    right one the "search" ids, whatever they show; each has a set of SearchParts."""

    title_left: gr.Markdown
    title_right: gr.Markdown
    answer_plain: gr.Markdown
    stats_plain: gr.Markdown
    given_plain: gr.Markdown
    given_plain_fold: gr.Accordion
    answer_search: gr.Markdown
    stats_search: gr.Markdown
    given_search: gr.Markdown
    given_search_fold: gr.Accordion
    grounding: gr.Markdown
    left: SearchParts
    right: SearchParts

    def live(self) -> list[gr.Markdown]:
        """The outputs a running comparison streams into, in render.live.OUTPUTS order: the
        search parts are the right column's (a live comparison keeps search on the right)."""
        return [getattr(self.right if hasattr(self.right, n) else self, n) for n in OUTPUTS]

    def search_parts(self, side: str) -> list[Any]:
        return (self.left if side == "left" else self.right).all()

    def place_search_parts(self, side: str, *, visible: bool) -> dict[Any, Any]:
        """The search parts under `side` shown (or hidden), the other side's hidden and empty."""
        shown, hidden = (self.left, self.right) if side == "left" else (self.right, self.left)
        return {
            shown.notice: gr.update(visible=visible),
            shown.trace_fold: gr.update(visible=visible),
            shown.sources: gr.update(visible=visible),
            hidden.notice: gr.update(value="", visible=False),
            hidden.trace_fold: gr.update(visible=False),
            hidden.sources: gr.update(value="", visible=False),
            hidden.trace: "",
        }

    def fill_search_parts(
        self, side: str, *, notice: str, sources: str, trace: str
    ) -> dict[Any, Any]:
        parts = self.left if side == "left" else self.right
        return {
            parts.notice: gr.update(value=notice, visible=True),
            parts.sources: gr.update(value=sources, visible=True),
            parts.trace: trace,
        }


@dataclass
class PromptRow:
    """The prompt, its buttons, the blind toggle, the settings and the examples."""

    prompt: gr.Textbox
    ask: gr.Button
    stop: gr.Button
    blind: gr.Checkbox
    max_new: gr.Slider
    temperature: gr.Slider
    pages: gr.Slider
    provider: gr.Dropdown
    examples: gr.Examples | None


def add_prompt_row(settings: Settings, store_enabled: bool) -> PromptRow:
    with gr.Row(equal_height=True, elem_id="ask-row"):
        prompt = gr.Textbox(
            label="Prompt", placeholder=PLACEHOLDER, lines=2, max_lines=8, scale=6,
            elem_id="prompt",
        )  # fmt: skip
        with gr.Column(scale=1, min_width=120):
            ask = gr.Button(ASK, variant="primary", elem_id="ask", interactive=False)
            stop = gr.Button("Stop", variant="stop", elem_id="stop", interactive=False)
    with gr.Row(elem_id="mode-row"):
        blind = gr.Checkbox(
            value=settings.blind,
            label="Blind: show the answers as A and B at random; reveal after my vote",
            elem_id="blind",
            interactive=store_enabled,
            container=False,
        )
    with gr.Accordion("Settings", open=False, elem_id="settings"), gr.Row():
        # the sliders end at the server's caps: a value the server would lower is not offered
        cap = settings.max_new_tokens_cap
        max_new = gr.Slider(
            min(16, cap), cap, value=min(settings.max_new_tokens, cap), step=16,
            label="Max new tokens (each answer)", elem_id="max-new-tokens",
        )  # fmt: skip
        temperature = gr.Slider(
            0.0, 1.5, value=settings.temperature, step=0.05,
            label="Temperature (0 = greedy, same for both columns)",
        )  # fmt: skip
        pages = gr.Slider(
            1, settings.pages_cap, value=min(settings.pages, settings.pages_cap), step=1,
            label="Pages to read", elem_id="pages",
        )  # fmt: skip
        provider = gr.Dropdown(
            PROVIDER_CHOICES, value=settings.search, label="Search provider", elem_id="provider"
        )
    examples = load_examples()
    block = (
        gr.Examples(examples=[[e] for e in examples], inputs=[prompt], label="Examples")
        if examples
        else None
    )
    return PromptRow(prompt, ask, stop, blind, max_new, temperature, pages, provider, block)


def add_columns() -> Columns:
    """Both columns side by side (stacked below 768 px, search second), the grounding line."""
    with gr.Row(equal_height=False, elem_id="duel"):
        with gr.Column(elem_classes=["duel-column"], elem_id="column-plain"):
            title_left = gr.Markdown("### Search off", elem_id="title-left")
            notice_left = gr.Markdown(
                elem_id="search-notice-left", elem_classes=["stats"], visible=False
            )
            answer_plain = gr.Markdown(elem_id="answer-plain", min_height=160)
            with gr.Row(elem_classes=["answer-foot"]):
                stats_plain = gr.Markdown(elem_id="stats-plain", elem_classes=["stats"])
                copy_button("copy-plain", "answer-plain")
            sources_left = gr.Markdown(elem_id="sources-left", visible=False)
            with gr.Accordion(
                "What the model was given", open=False, elem_id="prompt-plain"
            ) as given_plain_fold:
                given_plain = gr.Markdown(elem_id="given-plain")
            with gr.Accordion(
                "Search trace", open=False, elem_id="trace-left", visible=False
            ) as trace_fold_left:
                trace_left = gr.Markdown(elem_id="trace-body-left", elem_classes=["trace-table"])
        with gr.Column(elem_classes=["duel-column"], elem_id="column-search"):
            title_right = gr.Markdown("### Search on", elem_id="title-right")
            notice = gr.Markdown(elem_id="search-notice", elem_classes=["stats"], visible=False)
            answer_search = gr.Markdown(elem_id="answer-search", min_height=160)
            with gr.Row(elem_classes=["answer-foot"]):
                stats_search = gr.Markdown(elem_id="stats-search", elem_classes=["stats"])
                copy_button("copy-search", "answer-search")
            sources = gr.Markdown(elem_id="sources")
            with gr.Accordion(
                "What the model was given", open=False, elem_id="prompt-search"
            ) as given_search_fold:
                given_search = gr.Markdown(elem_id="given-search")
            with gr.Accordion("Search trace", open=False, elem_id="trace") as trace_fold:
                trace = gr.Markdown(elem_id="trace-body", elem_classes=["trace-table"])
    grounding = gr.Markdown(elem_id="grounding", elem_classes=["stats"])
    return Columns(
        title_left, title_right, answer_plain, stats_plain, given_plain, given_plain_fold,
        answer_search, stats_search, given_search, given_search_fold, grounding,
        left=SearchParts(notice_left, sources_left, trace_fold_left, trace_left),
        right=SearchParts(notice, sources, trace_fold, trace),
    )  # fmt: skip


def copy_button(elem_id: str, target: str) -> gr.Button:
    """A Copy button for one answer (page.js copies its text, without the judge's glyphs)."""
    button = gr.Button("Copy", size="sm", elem_id=elem_id, scale=0, min_width=70)
    js = f"() => searchDuel.copyAnswer('{target}', '{elem_id}')"
    button.click(None, js=js, api_visibility="private")
    return button


class Duel:
    """The run's handlers over the components they update. `screen` (stored.RecordView)
    shows the finished comparison, and clears the one before when a new one starts."""

    def __init__(
        self,
        loader: BackendLoader,
        settings: Settings,
        store: Store,
        store_note: str,
        parts: tuple[PromptRow, Columns, VoteBar],
        state: tuple[gr.State, gr.State, gr.BrowserState, gr.Radio],
        screen: Screen,
        limiter: RateLimiter | None = None,
    ):
        self.loader, self.settings, self.store, self.store_note = (
            loader,
            settings,
            store,
            store_note,
        )
        self.row, self.columns, self.bar = parts
        self.run_id, self.shown, self.history, self.history_list = state
        self.screen = screen
        self.runs = Runs()
        # comparisons one client address may start a minute (--rate-limit), page and API alike
        self.limiter = limiter if limiter is not None else RateLimiter(settings.rate_limit)
        self.hops = proxy_hops(settings.proxy_hops)
        root = Path(settings.corpus).expanduser().resolve() if settings.corpus else None
        self.corpus_root = str(root) if root else ""

    # --- lock ─► compare ─► unlock -----------------------------------------------------------

    def lock(
        self,
        prompt: str,
        max_new_tokens: float,
        temperature: float,
        pages: float,
        provider: str,
        blind_on: bool,
        request: gr.Request,
    ) -> Any:
        """Accept a run from the page, or refuse it with a notice and change nothing else."""
        ask, cols, key = self.row.ask, self.columns, session_key(request)
        options = _options(max_new_tokens, temperature, pages, provider)
        busy = self.runs.busy(key)
        refusal = self._refusal(prompt, options, request, busy=busy)
        run = self.runs.accept(key) if not refusal else None
        if run is None:
            gr.Warning(refusal or BUSY)
            if busy:  # the running one keeps its id: its own unlock reads it
                return {ask: gr.skip()}
            return {ask: gr.skip(), self.run_id: REFUSED}  # the chain's compare does nothing
        is_blind = bool(blind_on) and self.store.enabled and provider != "off"
        left = secrets.choice(COLUMNS) if is_blind else "plain"
        label_left, label_right = vote_labels(left, is_blind)
        buttons = self.bar.buttons
        return {
            ask: gr.update(value=RUNNING, interactive=False),
            self.row.stop: gr.update(interactive=True),
            self.run_id: run.run_id,
            self.shown: {
                "id": "",
                "left": left,
                "blind": is_blind,
                "search_off": provider == "off",
            },
            cols.title_left: "### A" if is_blind else "### Search off",
            cols.title_right: "### B" if is_blind else "### Search on",
            cols.given_plain_fold: gr.update(visible=not is_blind),
            cols.given_search_fold: gr.update(visible=not is_blind),
            **cols.place_search_parts("right", visible=not is_blind),
            cols.grounding: "",
            buttons[0]: gr.update(value=label_left, interactive=False),
            buttons[1]: gr.update(value=label_right, interactive=False),
            buttons[2]: gr.update(interactive=False),
            buttons[3]: gr.update(interactive=False),
            self.bar.status: self.store_note or VOTE_LATER,
            **self.bar.show(self.store.enabled and provider != "off"),
            **self.screen.clear(),
        }

    def _refusal(
        self, prompt: str, options: RunOptions, request: gr.Request | None, *, busy: bool
    ) -> str:
        """Why a comparison may not start now ("" when it may): the model, the input, a run
        of this browser still going, the client's rate (counted only when it may start)."""
        engine = self.loader.engine
        if engine is None:
            snap = self.loader.snapshot()
            if snap["state"] == "failed":
                return snap.get("what", "The model could not be loaded.")
            return "The model is not ready yet."
        try:
            check_request(prompt, options, engine.settings)
        except InvalidInput as exc:
            return str(exc)
        if busy:
            return BUSY
        try:
            self.limiter.check(request_address(request, self.hops))
        except RateLimited as exc:
            return str(exc)
        return ""

    def compare(
        self,
        prompt: str,
        max_new_tokens: float,
        temperature: float,
        pages: float,
        provider: str,
        run_id: str = "",
        shown: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> Iterator[tuple[str, ...]]:
        """Both columns, streaming. From the page `run_id` is the run lock accepted (a
        refused lock leaves none to start: nothing happens); an API call has none, and is
        checked and accepted here."""
        skip = tuple(gr.skip() for _ in OUTPUTS)
        if run_id == REFUSED:  # the page's lock refused it and said why
            yield skip
            return
        key, api = session_key(request), not run_id
        options = _options(max_new_tokens, temperature, pages, provider)
        run = self._api_run(prompt, options, request) if api else self.runs.start(key, run_id)
        if run is None:
            yield skip
            return
        engine = self.loader.engine
        placement = shown if (not api and isinstance(shown, dict)) else {}
        is_blind, left = bool(placement.get("blind")), placement.get("left", "plain")
        view = LiveView(corpus_root=self.corpus_root)
        events: list[Event] = []
        question = prompt.strip()
        pacer = Pacer(PAGE_FLUSH_S)  # tokens at most once an interval; the rest at once
        try:
            for event in engine.run(question, options, stop=run.stop):
                events.append(event)
                view.apply(event)
                if event.kind == "error" and event.data.get("type") == "BackendBusy":
                    gr.Warning(event.text)
                if pacer.due(event):
                    yield blind_outputs(view, left) if is_blind else view.outputs()
            if pacer.held:
                yield blind_outputs(view, left) if is_blind else view.outputs()
            ran = options.apply(engine.settings)
            run.comparison_id = self._store_run(question, events, view, ran)
            run.prompt = question
        except InvalidInput as exc:  # refused before any work (inputs.py); the prompt stays
            if api:
                raise gr.Error(str(exc)) from None
            gr.Warning(str(exc))
            yield skip
        finally:
            run.stop.set()
            run.done = True
            if api:
                self.runs.forget(key, run)

    def _api_run(self, prompt: str, options: RunOptions, request: gr.Request | None) -> Run | None:
        """An API call's run, accepted and started; an error its client sees when it may not
        start. It waits for a model that is still loading."""
        if self.loader.engine is None:
            self.loader.wait()
        key = session_key(request)
        refusal = self._refusal(prompt, options, request, busy=self.runs.busy(key))
        run = self.runs.accept(key) if not refusal else None
        if run is None:
            raise gr.Error(refusal or BUSY)
        return self.runs.start(key, run.run_id)

    def _store_run(self, question: str, events: list[Event], view: LiveView, ran: Settings) -> str:
        """Store a finished comparison (both columns ended, not stopped); its id or ""."""
        columns = (view.plain, view.search)
        finished = all(c.done is not None or c.error for c in columns)
        stopped = any(c.done and c.done.get("stopped") for c in columns)
        if not self.store.enabled or not finished or stopped:
            return ""
        try:
            return self.store.save(comparison_from_events(question, events, ran))
        except StoreError as exc:
            gr.Warning(f"This comparison could not be stored: {exc}")
            return ""

    def unlock(self, run_id: str, placement: Any, state: Any, request: gr.Request) -> Any:
        """The run has ended: Ask back, and the comparison shown as stored (votes on), or a
        note saying why it was not stored. A refused lock left no run: nothing changes."""
        ask = self.row.ask
        released, run = self.runs.release(session_key(request), run_id)
        if not released or run is None:
            return {ask: gr.skip()}  # another run still going, or nothing was accepted
        out: dict[Any, Any] = {
            ask: gr.update(value=ASK, interactive=True),
            self.row.stop: gr.update(interactive=False),
        }
        cid = run.comparison_id
        if not cid:
            out[self.bar.status] = self.store_note or "*Not stored: the comparison did not finish.*"
            return out
        placement = dict(placement or {})
        placement.update(id=cid, prompt=run.prompt)
        out[self.shown] = placement
        if placement.get("search_off"):
            out[self.bar.status] = NO_VOTE_SEARCH_OFF
        else:
            out.update(self.bar.enable(True))
        if placement.get("blind"):  # no id reaches the browser before the vote
            out[self.bar.status] = VOTE_ASK_BLIND
            return out
        new_state = remember(
            state, cid, run.prompt, "search off" if placement.get("search_off") else ""
        )
        out[self.history] = new_state
        out[self.history_list] = gr.update(choices=history_choices(new_state), value=None)
        try:  # never leave Ask stuck on "Running…" because the store hiccuped
            record = self.store.get(cid)
        except StoreError as exc:
            log.warning("could not read back %s: %s", cid, exc)
            return out
        shown = self.screen.show(record, state=state, request=request)
        cols = self.columns
        for name in (*cols.live(), cols.given_plain):
            shown.pop(name, None)  # the live rendering stays (it has the full prompts)
        out.update(shown)
        return out

    def stop_now(self, request: gr.Request) -> None:
        self.runs.stop(session_key(request))

    # --- wiring ---------------------------------------------------------------------------

    def wire(self, stored_outputs: list[Any]) -> None:
        """Ask, the examples and Stop. `stored_outputs`: what show() and clear() update."""
        row, cols = self.row, self.columns
        inputs = [row.prompt, row.max_new, row.temperature, row.pages, row.provider]
        search_parts = [*cols.search_parts("left"), *cols.search_parts("right")]
        unlock_outputs = [row.ask, row.stop, self.history, self.history_list, *stored_outputs]
        lock_outputs = [
            row.ask, row.stop, self.run_id, self.shown, cols.title_left, cols.title_right,
            cols.given_plain_fold, cols.given_search_fold, *search_parts,
            cols.grounding, *self.bar.buttons, self.bar.status, self.bar.group,
            *self.screen.clear(),
        ]  # fmt: skip
        # queued (without a concurrency limit: it is quick) so that a refusal can be a notice:
        # Gradio sends gr.Warning only to events that run through its queue
        lock_io = {
            "inputs": [*inputs, row.blind],
            "outputs": list(dict.fromkeys(lock_outputs)),
            "concurrency_limit": None,
        }

        def chain(start: Any, api_name: str | bool) -> None:
            run = start.then(
                self.compare,
                inputs=[*inputs, self.run_id, self.shown],
                outputs=cols.live(),
                api_name=api_name,
                api_visibility="public" if api_name else "private",
                concurrency_limit=COMPARE_CONCURRENCY,
                concurrency_id="model",
            )
            run.then(
                self.unlock,
                inputs=[self.run_id, self.shown, self.history],
                outputs=list(dict.fromkeys(unlock_outputs)),
                queue=False,
                api_visibility="private",
            )

        chain(row.ask.click(self.lock, **lock_io, api_visibility="private"), "compare")
        if row.examples is not None:
            example = row.examples.load_input_event
            chain(example.then(self.lock, **lock_io, api_visibility="private"), False)
        row.stop.click(self.stop_now, inputs=None, outputs=None, api_name="stop", queue=False)


def _options(max_new_tokens: Any, temperature: Any, pages: Any, provider: Any) -> RunOptions:
    """A request's run options as the page or the API sent them; inputs.check_options says
    what is wrong with them."""
    return RunOptions(
        max_new_tokens=_number(max_new_tokens, int),
        temperature=_number(temperature, float),
        pages=_number(pages, int),
        search=provider,
    )


def _number(value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return value
