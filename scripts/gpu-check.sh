#!/usr/bin/env bash
# The trainer's SFT / DPO / SRPO entry points (and DPO with LoRA, and FSDP on one process) on a tiny random
# model on one GPU in bf16, printing a table: for a GPU machine with the trainer's Python packages (torch,
# transformers, datasets, peft, accelerate, trl; it names any that is missing) and neither internet nor
# Node. PYTHON picks the interpreter (default python3); arguments go to scripts/gpu_check.py
# (--device cpu checks the script on a machine without a GPU). Commit its output to docs/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" scripts/gpu_check.py "$@"
