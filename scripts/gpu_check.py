"""The trainer's entry points on a tiny random model, one GPU, bf16: run by scripts/gpu-check.sh.

For a machine with a GPU and the trainer's Python packages but no internet and no Node: it builds a
character tokenizer and a tiny random Llama here, writes a few preference pairs, and runs what the
trainer's recipes run (activities/training/recipe.ts, with trainer.device cuda): `trl sft`,
deploy/trainer/dpo.py with the DPO and the SRPO loss, DPO with LoRA, and DPO under `accelerate launch`
with deploy/trainer/accelerate/fsdp.yaml on one process. Prints a table (markdown) and exits 1 when a
step failed. `--device cpu` runs the same steps in fp32 on the CPU (to check the script itself).
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NEEDED = ["torch", "transformers", "datasets", "peft", "accelerate", "trl"]


def pins():
    """The versions deploy/requirements.txt pins, for the message naming what is missing."""
    found = {}
    with open(os.path.join(ROOT, "deploy", "requirements.txt")) as f:
        for line in f:
            name, _, version = line.strip().partition("==")
            if version:
                found[name.split("[")[0]] = version
    return found


def check_packages(device):
    missing, versions = [], {}
    for name in NEEDED:
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            missing.append(name)
    if missing:
        pinned = pins()
        wanted = " ".join(f"{m}=={pinned[m]}" if m in pinned else m for m in missing)
        raise SystemExit(f"gpu-check: missing Python packages: {', '.join(missing)} (pip install {wanted})")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu-check: torch sees no CUDA device (torch.cuda.is_available() is False)")
    return versions


def write_data(workdir):
    """Preference pairs with the columns the trainer reads (SRPO's revision contexts, the row weight)."""
    user = lambda text: [{"role": "user", "content": text}]  # noqa: E731
    said = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    triples = [("2+2?", "4", "5 or so"), ("3+5?", "8", "9"), ("Capital of France?", "Paris.", "Lyon")] * 4
    revise = lambda x, y: [*user(x), *said(y), *user("Improve it.")]  # noqa: E731
    pairs, sft = os.path.join(workdir, "pairs"), os.path.join(workdir, "sft")
    os.makedirs(pairs)
    os.makedirs(sft)
    with open(os.path.join(pairs, "train.jsonl"), "w") as f:
        for x, w, l in triples:
            row = {"prompt": user(x), "chosen": said(w), "rejected": said(l), "weight": 1.0}
            row |= {"revise_rejected": revise(x, l), "revise_chosen": revise(x, w)}
            f.write(json.dumps(row) + "\n")
    with open(os.path.join(sft, "train.jsonl"), "w") as f:
        for x, w, _ in triples:
            f.write(json.dumps({"prompt": user(x), "completion": said(w)}) + "\n")
    return pairs, sft


def common(model, data, out, device):
    """The recipe's training flags (recipe.ts trainingArgs), small."""
    cpu = ["--use_cpu", "true", "--bf16", "false", "--dtype", "float32"]
    precision = ["--bf16", "true"] if device == "cuda" else cpu
    return [
        "--model_name_or_path", model, "--dataset_name", data, "--output_dir", out,
        "--learning_rate", "1e-4", "--num_train_epochs", "1", "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "1", "--max_length", "128", "--logging_steps", "1",
        "--save_strategy", "epoch", "--save_only_model", "false", "--report_to", "none",
        "--disable_tqdm", "true", *precision,
    ]  # fmt: skip


def run(name, argv, log_dir):
    log = os.path.join(log_dir, f"{name}.log")
    started = time.time()
    with open(log, "w") as f:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        rc = subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    seconds = time.time() - started
    loss = "-"
    with open(log) as f:
        for line in f:
            if "'train_loss'" in line or '"train_loss"' in line:
                loss = line.split("train_loss")[1].split(",")[0].strip(" '\":")
    return {"step": name, "rc": rc, "seconds": seconds, "train_loss": loss, "log": log}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--keep", help="work in this directory (kept) rather than a temporary one")
    args = parser.parse_args()
    versions = check_packages(args.device)
    sys.path.insert(0, os.path.join(ROOT, "test", "python"))
    from tiny_model import char_tokenizer, tiny_llama

    workdir = args.keep or tempfile.mkdtemp(prefix="evolve-gpu-check-")
    os.makedirs(workdir, exist_ok=True)
    model = os.path.join(workdir, "model")
    tokenizer = char_tokenizer(model)
    tiny_llama(model, len(tokenizer), seed=1)
    pairs, sft = write_data(workdir)
    dpo = [sys.executable, os.path.join(ROOT, "deploy", "trainer", "dpo.py")]
    out = lambda name: os.path.join(workdir, "out", name)  # noqa: E731
    lora = ["--use_peft", "true", "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj", "v_proj"]
    launch = [
        sys.executable, os.path.join(ROOT, "deploy", "trainer", "launch.py"), "--num_processes", "1",
        "--num_machines", "1", "--main_process_port", "29517",
        "--config_file", os.path.join(ROOT, "deploy", "trainer", "accelerate", "fsdp.yaml"),
        *([] if args.device == "cuda" else ["--cpu", "--mixed_precision", "no"]),
    ]  # fmt: skip
    steps = [
        ("sft", [sys.executable, "-m", "trl.scripts.sft", *common(model, sft, out("sft"), args.device)]),
        ("dpo", [*dpo, *common(model, pairs, out("dpo"), args.device), "--beta", "0.1", "--evolve_loss", "dpo"]),
        ("srpo", [*dpo, *common(model, pairs, out("srpo"), args.device), "--beta", "0.1", "--evolve_loss", "srpo", "--srpo_alpha", "0.5"]),
        ("dpo-lora", [*dpo, *common(model, pairs, out("dpo-lora"), args.device), "--beta", "0.1", *lora]),
        ("dpo-fsdp-1-process", [*launch, dpo[1], *common(model, pairs, out("fsdp"), args.device), "--beta", "0.1"]),
    ]  # fmt: skip
    import torch

    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    print(f"gpu-check on {where}: " + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)
    results = []
    for name, argv in steps:
        print(f"==> {name}", flush=True)
        results.append(run(name, argv, workdir))
    print("\n| step | exit | seconds | train loss | log |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['step']} | {r['rc']} | {r['seconds']:.1f} | {r['train_loss']} | {r['log']} |")
    sys.exit(1 if any(r["rc"] != 0 for r in results) else 0)


if __name__ == "__main__":
    main()
