"""A tiny random-weight Phi-3 with a freshly trained tokenizer, for tests and offline demos.

The architecture (Phi3ForCausalLM), the special tokens and the chat template are Phi-3's, so
every code path (loading a folder, templating, streaming, budgets) is the real one; only the
weights are random, so the text it writes is noise. Its config.json carries
`"searchduel_test_model": true`, and the app shows a banner saying so.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# Phi-3's chat markup: <|role|>\n ... <|end|>\n, generation opens with <|assistant|>\n.
PHI3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
SPECIAL_TOKENS = [
    "<unk>",
    "<s>",
    "</s>",
    "<|endoftext|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
]


def _default_texts() -> list[str]:
    from ..config import DEFAULT_CORPUS

    texts = [
        p.read_text("utf-8", "replace")
        for p in sorted(DEFAULT_CORPUS.rglob("*"))
        if p.is_file() and p.suffix in (".md", ".txt", ".html", ".htm")
    ]
    return texts or ["The quick brown fox jumps over the lazy dog. " * 50]


def build_tiny_model(
    folder: str | Path,
    *,
    texts: Iterable[str] | None = None,
    vocab_size: int = 4000,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> Path:
    """Write a tiny Phi-3 model + tokenizer into `folder` (loadable with from_pretrained)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts) if texts is not None else _default_texts(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|endoftext|>",
        unk_token="<unk>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
    )
    fast.chat_template = PHI3_CHAT_TEMPLATE
    fast.model_max_length = 4096
    fast.save_pretrained(folder)

    torch.manual_seed(seed)
    config = Phi3Config(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        original_max_position_embeddings=4096,
        bos_token_id=fast.convert_tokens_to_ids("<s>"),
        eos_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        tie_word_embeddings=False,
    )
    # the mark the app reads to warn that answers are noise (TransformersBackend.test_model)
    config.searchduel_test_model = True
    model = Phi3ForCausalLM(config)
    # Random logits would often pick <|end|> first and stop; zeroing the special tokens' output
    # rows keeps them out of greedy picks, so answers run to max_new_tokens and tests can
    # assert token budgets and streaming on a predictable length.
    with torch.no_grad():
        for token in SPECIAL_TOKENS:
            model.lm_head.weight[fast.convert_tokens_to_ids(token)] = 0.0
    model.generation_config.eos_token_id = [
        fast.convert_tokens_to_ids("<|end|>"),
        fast.convert_tokens_to_ids("<|endoftext|>"),
    ]
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(folder)
    return folder
