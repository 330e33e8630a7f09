"""Write a transformers Phi-3 folder as one GGUF file that llama.cpp loads (`tiny-model --gguf`).

    folder (config.json, *.safetensors, tokenizer.json, chat template)
      ─► metadata: phi3 hyper-parameters, the vocabulary (byte-level BPE, merges), the
         special tokens and the chat template, the test-model mark
      ─► tensors under llama.cpp's phi3 names, fused as transformers already fuses them
      ─► DIR/NAME.gguf

Decisions, in one place:

- Written with the `gguf` package only, so it works on any machine without llama.cpp's
  source tree. The tensors keep transformers' layout: Phi-3 already fuses q/k/v into
  `qkv_proj` and gate/up into `gate_up_proj` (gate first), which is what llama.cpp's phi3
  graph reads as `attn_qkv` and `ffn_up` (SwiGLU over the two halves). Rotary embeddings are
  NeoX-style on both sides, so nothing is permuted.
- The vocabulary is the tokenizer's own: a byte-level BPE (`tokenizer.json` with a ByteLevel
  pre-tokenizer, as `tiny-model` trains) becomes llama.cpp's "gpt2" model with the GPT-2
  pre-tokenizer regex, its merges in rank order, and its added tokens as control tokens, so
  llama.cpp's token ids equal the transformers tokenizer's (a test checks this on NFC text;
  llama.cpp does not apply the NFC normalizer). SentencePiece vocabularies (the real Phi-3's)
  are refused: published models ship their own GGUF, and llama.cpp's converter handles those.
- BOS is not added by the tokenizer (add_bos_token false): the chat template writes
  `{{ bos_token }}` itself, as in transformers.
- Weights are written in F32 (default) or F16; 1-D norms stay F32, as llama.cpp expects.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

# transformers name -> llama.cpp name (phi3 architecture); "{i}" is the layer.
TENSOR_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
    "model.layers.{i}.input_layernorm.weight": "blk.{i}.attn_norm.weight",
    "model.layers.{i}.self_attn.qkv_proj.weight": "blk.{i}.attn_qkv.weight",
    "model.layers.{i}.self_attn.o_proj.weight": "blk.{i}.attn_output.weight",
    "model.layers.{i}.post_attention_layernorm.weight": "blk.{i}.ffn_norm.weight",
    "model.layers.{i}.mlp.gate_up_proj.weight": "blk.{i}.ffn_up.weight",
    "model.layers.{i}.mlp.down_proj.weight": "blk.{i}.ffn_down.weight",
}
TEST_MODEL_KEY = "searchduel.test_model"  # the GGUF twin of config.searchduel_test_model
# gguf's GGUF token types (llama.cpp's LLAMA_TOKEN_TYPE_*)
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED = 1, 3, 4, 5


def gguf_name(hf_name: str) -> str:
    """The llama.cpp name of a transformers Phi-3 tensor (KeyError for anything else)."""
    parts = hf_name.split(".")
    if len(parts) > 3 and parts[:2] == ["model", "layers"] and parts[2].isdigit():
        layer = parts[2]
        key = ".".join([*parts[:2], "{i}", *parts[3:]])
        return TENSOR_NAMES[key].format(i=layer)
    return TENSOR_NAMES[hf_name]


def _vocab(folder: Path, vocab_size: int) -> dict[str, Any]:
    """Tokens, types, merges and special ids of a byte-level BPE tokenizer.json."""
    data = json.loads((folder / "tokenizer.json").read_text("utf-8"))
    model, pre = data.get("model") or {}, data.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or pre.get("add_prefix_space"):
        raise ModelLoadError(
            f"{folder}: only byte-level BPE tokenizers can be written here (this one is "
            f"{model.get('type')} with a {pre.get('type')} pre-tokenizer); convert it with "
            "llama.cpp's convert_hf_to_gguf.py"
        )
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [TOKEN_UNUSED] * vocab_size
    for text, i in model["vocab"].items():
        tokens[i], types[i] = text, TOKEN_NORMAL
    for added in data.get("added_tokens") or []:
        i = added["id"]
        tokens[i] = added["content"]
        types[i] = TOKEN_CONTROL if added.get("special") else TOKEN_USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    return {"tokens": tokens, "types": types, "merges": merges}


def gguf_model_name(folder: Path) -> str:
    """general.name for the file: the folder's name, unless llama.cpp would read a tokenizer
    quirk into it. llama.cpp gives every special token but <s>, <unk> and <|endoftext|> an
    "rstrip" (the whitespace after it is eaten) when the name contains "phi3" or "phi-3", as
    Phi-3's own tokenizer does; a tokenizer whose added tokens do not rstrip (the tiny
    model's) must not get it, or "<|user|>\\n" would lose its newline."""
    data = json.loads((folder / "tokenizer.json").read_text("utf-8"))
    name = folder.name
    if not any(t.get("rstrip") for t in data.get("added_tokens") or []):
        name = re.sub(r"phi-?3", "phi_3", name, flags=re.IGNORECASE)
    return name


def _special_ids(tokenizer: Any) -> dict[str, int | None]:
    def tid(text: str | None) -> int | None:
        return None if text is None else tokenizer.convert_tokens_to_ids(text)

    end = "<|end|>" if "<|end|>" in tokenizer.get_vocab() else None
    return {
        "bos": tid(tokenizer.bos_token),
        "eos": tid(tokenizer.eos_token),
        "unk": tid(tokenizer.unk_token),
        "pad": tid(tokenizer.pad_token),
        "eot": tid(end),  # Phi-3 ends a turn with <|end|>: an end-of-generation token
    }


def _write_metadata(writer: Any, config: Any, name: str, file_type: int) -> None:
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise ModelLoadError(
            f"rope scaling {rope.get('rope_type')!r} (long-context Phi-3) is not written here; "
            "use llama.cpp's convert_hf_to_gguf.py"
        )
    heads = config.num_attention_heads
    rotary = float(rope.get("partial_rotary_factor", 1.0))
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_rope_scaling_orig_ctx_len(
        getattr(config, "original_max_position_embeddings", None) or config.max_position_embeddings
    )
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.num_key_value_heads or heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(int(rotary * config.hidden_size) // heads)
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    writer.add_sliding_window(int(getattr(config, "sliding_window", None) or 0))
    writer.add_file_type(file_type)
    if getattr(config, "searchduel_test_model", False):
        writer.add_bool(TEST_MODEL_KEY, True)


def _write_tokenizer(writer: Any, folder: Path, tokenizer: Any, vocab_size: int) -> None:
    vocab = _vocab(folder, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["types"])
    writer.add_token_merges(vocab["merges"])
    ids = _special_ids(tokenizer)
    for key, add in (
        ("bos", writer.add_bos_token_id),
        ("eos", writer.add_eos_token_id),
        ("unk", writer.add_unk_token_id),
        ("pad", writer.add_pad_token_id),
        ("eot", writer.add_eot_token_id),
    ):
        if ids[key] is not None:
            add(ids[key])
    writer.add_add_bos_token(False)  # the chat template writes {{ bos_token }}
    writer.add_add_eos_token(False)
    if not tokenizer.chat_template:
        raise ModelLoadError(f"{folder}: the tokenizer has no chat template to carry")
    writer.add_chat_template(tokenizer.chat_template)


def write_gguf(folder: str | Path, out: str | Path | None = None, *, dtype: str = "f32") -> Path:
    """Write the Phi-3 model in `folder` as a GGUF (default: FOLDER/NAME-f32.gguf)."""
    import gguf
    import numpy as np
    from safetensors import safe_open
    from transformers import AutoConfig, AutoTokenizer

    folder = Path(folder)
    out = Path(out) if out else folder / f"{folder.name}-{dtype}.gguf"
    config = AutoConfig.from_pretrained(folder)
    if config.model_type != "phi3":
        raise ModelLoadError(f"{folder} holds a {config.model_type} model, not Phi-3")
    if dtype not in ("f32", "f16"):
        raise ValueError("dtype must be f32 or f16")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    file_type = gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16
    writer = gguf.GGUFWriter(out, "phi3")
    _write_metadata(writer, config, gguf_model_name(folder), int(file_type))
    _write_tokenizer(writer, folder, tokenizer, config.vocab_size)
    for shard in sorted(folder.glob("*.safetensors")):
        with safe_open(shard, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                array = f.get_tensor(key).float().numpy()
                if dtype == "f16" and array.ndim > 1:
                    array = array.astype(np.float16)
                writer.add_tensor(gguf_name(key), np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
