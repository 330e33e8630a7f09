"""The local backend on a real tiny Phi3ForCausalLM: streaming, budgets, errors, stop, queue."""

from __future__ import annotations

import threading
import time

import pytest

from searchduel.errors import BackendBusy, GenerationError
from searchduel.llm.gate import Gate
from searchduel.llm.transformers_local import TransformersBackend, pick_quantization

MESSAGES = [{"role": "user", "content": "Plan a one-day trip to Skagway, Alaska."}]


def test_quantization_is_decided_by_cuda_not_by_exceptions():
    assert pick_quantization("auto", cuda=False) == "none"
    assert pick_quantization("4bit", cuda=False) == "none"
    assert pick_quantization("auto", cuda=True) == "4bit"
    assert pick_quantization("8bit", cuda=True) == "8bit"
    assert pick_quantization("none", cuda=True) == "none"


def test_loads_a_local_folder_with_the_real_architecture(tiny_backend):
    assert type(tiny_backend.model).__name__ == "Phi3ForCausalLM"
    assert tiny_backend.context_window == 4096
    assert tiny_backend.quantization == "none"  # no CUDA here


def test_counts_tokens_through_the_chat_template(tiny_backend):
    text_only = tiny_backend.count_text_tokens(MESSAGES[0]["content"])
    prompt = tiny_backend.count_tokens(MESSAGES)
    ids = tiny_backend.counter.prompt_ids(MESSAGES)
    assert prompt == len(ids) > text_only  # template tokens are counted
    tok = tiny_backend.tokenizer
    assert ids[0] == tok.convert_tokens_to_ids("<s>")
    assert tok.convert_tokens_to_ids("<|user|>") in ids
    assert tok.convert_tokens_to_ids("<|assistant|>") == ids[-2]


def test_streams_exactly_the_token_budget_greedily(tiny_backend, monkeypatch):
    real_generate = tiny_backend.model.generate
    new_tokens = []

    def spy(**kwargs):
        out = real_generate(**kwargs)
        new_tokens.append(out.shape[1] - kwargs["input_ids"].shape[1])
        assert kwargs["generation_config"].do_sample is False
        return out

    monkeypatch.setattr(tiny_backend.model, "generate", spy)
    first = list(tiny_backend.stream(MESSAGES, max_new_tokens=20))
    second = list(tiny_backend.stream(MESSAGES, max_new_tokens=20))
    assert len(first) > 1, "text arrives in pieces, not at the end"
    assert "".join(first) == "".join(second), "greedy decoding is repeatable"
    assert new_tokens == [20, 20]


def test_error_inside_generation_ends_the_stream_at_once(tiny_backend, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(tiny_backend.model, "generate", broken)
    start = time.perf_counter()
    with pytest.raises(GenerationError, match="out of memory"):
        list(tiny_backend.stream(MESSAGES, max_new_tokens=10))
    assert time.perf_counter() - start < 5
    assert tiny_backend.gate._free == 2  # the slot was released


def test_prompt_longer_than_the_window_is_refused_with_numbers(tiny_backend):
    long = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(GenerationError, match="more than the 4,096 the model"):
        list(tiny_backend.stream(long, max_new_tokens=10))


def test_stop_cancels_generation(tiny_backend):
    stop = threading.Event()
    pieces = []
    start = time.perf_counter()
    for piece in tiny_backend.stream(MESSAGES, max_new_tokens=3000, stop=stop):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert len(pieces) <= 6
    assert time.perf_counter() - start < 10


def test_two_streams_share_one_model_without_mixing(tiny_backend):
    solo = "".join(tiny_backend.stream(MESSAGES, max_new_tokens=30))
    other = [{"role": "user", "content": "What is photosynthesis?"}]
    solo_other = "".join(tiny_backend.stream(other, max_new_tokens=30))
    results: dict[str, str] = {}

    def run(name, messages):
        results[name] = "".join(tiny_backend.stream(messages, max_new_tokens=30))

    threads = [
        threading.Thread(target=run, args=("a", MESSAGES)),
        threading.Thread(target=run, args=("b", other)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"a": solo, "b": solo_other}


def test_gate_queue_limit_says_how_many_are_ahead():
    gate = Gate(slots=1, max_waiting=1)
    gate.acquire(None)
    waiter = threading.Thread(target=lambda: (gate.acquire(None), gate.release()))
    waiter.start()
    time.sleep(0.2)
    with pytest.raises(BackendBusy, match="1 requests ahead") as info:
        gate.acquire(None)
    assert info.value.ahead == 1
    gate.release()
    waiter.join(5)
    assert not waiter.is_alive()


def test_backend_busy_reaches_the_caller(tiny_backend):
    busy = TransformersBackend(
        tiny_backend.model, tiny_backend.tokenizer, max_streams=1, queue_size=0
    )
    holder = busy.stream(MESSAGES, max_new_tokens=200)
    next(holder)  # holds the only slot
    with pytest.raises(BackendBusy):
        list(busy.stream(MESSAGES, max_new_tokens=5))
    holder.close()
    assert len(list(busy.stream(MESSAGES, max_new_tokens=5))) > 0


def test_running_comparisons_always_have_room_for_both_columns(tiny_model_dir):
    from searchduel.config import COMPARE_CONCURRENCY, Settings

    backend = TransformersBackend.from_settings(Settings(model=str(tiny_model_dir), queue_size=1))
    slots = backend.gate._free
    assert slots + backend.gate.max_waiting >= 2 * COMPARE_CONCURRENCY + 1


TRICKY = "Café au lait, naïve 😀 — Привет, 東京! Two  spaces\nand a new line."


def test_fast_tokens_are_handed_out_in_batches_first_one_at_once(tiny_backend, monkeypatch):
    import torch

    ids = tiny_backend.tokenizer.encode("Hello" + TRICKY, add_special_tokens=False)
    first_received = threading.Event()
    waited: list[bool] = []

    def burst(**kwargs):  # a model far faster than any reader
        streamer = kwargs["streamer"]
        streamer.put(kwargs["input_ids"])
        streamer.put(torch.tensor([ids[0]]))
        # the first piece must reach the reader on its own, before any further token exists
        waited.append(first_received.wait(5))
        for i in ids[1:]:
            streamer.put(torch.tensor([i]))
        streamer.end()

    monkeypatch.setattr(tiny_backend.model, "generate", burst)
    pieces = []
    for piece in tiny_backend.stream(MESSAGES, max_new_tokens=len(ids)):
        pieces.append(piece)
        first_received.set()
    assert waited == [True]
    assert "".join(pieces) == tiny_backend.tokenizer.decode(ids, skip_special_tokens=True)
    assert 2 <= len(pieces) <= 3, pieces  # the first piece, then the rest batched
