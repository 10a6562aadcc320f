"""Checks of deploy/trainer/dpo.py on the CPU, no downloads: run by test/integration/trainer-loss.test.ts.

1. The loss functions against hand computations on tiny tensors (DPO, NLL, SRPO, the weighted mean).
2. The trainer on a tiny random Llama and a character tokenizer built here: the loss it computes for a batch
   equals the formula evaluated on log-probs computed independently (plain forward, log_softmax, gather),
   for several row weights, with the NLL term, and for SRPO.
"""

import contextlib
import io
import math
import os
import sys
import tempfile

import torch

torch.set_default_dtype(torch.float64)  # hand computations are in Python floats (double)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "trainer"))
import dpo  # noqa: E402
from tiny_model import char_tokenizer, tiny_llama  # noqa: E402


def close(a, b, tol=1e-9):
    """Equal up to `tol` relative: 1e-9 for the formulas in double, 1e-4 (float32 rounding) for the trainer's."""
    a, b = float(a), float(b)
    assert abs(a - b) <= tol * max(1.0, abs(b)), f"{a} != {b}"


# The trainer's models run in float32, and a padded batch rounds differently from a single sequence.
FP32 = 1e-4


def log_sigmoid(x):
    return -math.log1p(math.exp(-x))


def srpo_by_hand(beta, alpha, h):
    """SRPO's per-row loss on plain floats, written out term by term from the formula in
    docs/training-recipes.md (SRPO, Choi et al. 2024, arXiv 2406.01660), never from dpo.srpo_losses:
    h[s] is log pi(s) - log pi_ref(s) for y_w, y_l given x ("w", "l") and given c(x, y_l) / c(x, y_w)."""
    revise_rejected = 0.5 - beta * (h["w|l"] - h["l|l"])
    revise_chosen = 0.5 - beta * (h["w|w"] - h["l|w"])
    generative = beta * (h["w|l"] + h["w"] - h["l|w"] - h["l"]) - 1
    return (1 - alpha) * generative**2 + alpha * (revise_rejected**2 + revise_chosen**2)


def check_loss_functions():
    beta = 0.1
    # h = log pi - log pi_ref per row.
    hw, hl = [2.0, -1.0, 0.5], [-3.0, 1.5, 0.5]
    losses = dpo.dpo_losses(beta, torch.tensor(hw), torch.tensor(hl))
    for i in range(3):
        close(losses[i], -log_sigmoid(beta * (hw[i] - hl[i])))
    close(losses[2], math.log(2))  # equal log-ratios: log 2
    weights = [1.0, 0.0, 2.5]
    expected = sum(w * -log_sigmoid(beta * (a - b)) for w, a, b in zip(weights, hw, hl)) / 3
    close(dpo.weighted_mean(losses, torch.tensor(weights)), expected)
    close(dpo.weighted_mean(losses, torch.ones(3)), losses.mean())

    nll = dpo.nll_losses(torch.tensor([-12.0, -3.0]), torch.tensor([4.0, 0.0]))
    close(nll[0], 3.0)
    close(nll[1], 3.0)  # no tokens: divided by 1, not 0

    h = {"w": 1.0, "l": -2.0, "w|l": 3.0, "l|l": -1.0, "w|w": 0.5, "l|w": 2.0}
    alpha = 0.3
    hand = srpo_by_hand(beta, alpha, h)
    close(hand, 0.7 * 0.36 + 0.3 * (0.01 + 0.4225))  # the arithmetic, spelled out
    got = dpo.srpo_losses(beta, alpha, {k: torch.tensor([v]) for k, v in h.items()})
    close(got[0], hand)
    print("loss functions: ok")


def user(text):
    return [{"role": "user", "content": text}]


def answer(text):
    return [{"role": "assistant", "content": text}]


def completion_logps(model, prompt_ids, completion_ids):
    """Summed log-prob of the completion after the prompt, by a plain forward pass."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].double()
    logps = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:].unsqueeze(1)).squeeze(1)
    return float(logps[len(prompt_ids) - 1 :].sum())


def check_trainer(workdir):
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    tokenizer = char_tokenizer(os.path.join(workdir, "tok"))
    policy_dir = tiny_llama(os.path.join(workdir, "policy"), len(tokenizer), seed=1)
    reference_dir = tiny_llama(os.path.join(workdir, "reference"), len(tokenizer), seed=2)
    beta = 0.1
    triples = [("2+2?", "4", "5 or so"), ("Capital of France?", "Paris.", "Lyon")]
    revise = lambda x, y: [*user(x), *answer(y), *user("Improve it.")]  # noqa: E731
    rows = {
        "prompt": [user(x) for x, _, _ in triples],
        "chosen": [answer(w) for _, w, _ in triples],
        "rejected": [answer(l) for _, _, l in triples],
        "kind": ["direct", "refinement"],
        "revise_rejected": [revise(x, l) for x, _, l in triples],
        "revise_chosen": [revise(x, w) for x, w, _ in triples],
    }
    policy = AutoModelForCausalLM.from_pretrained(policy_dir, dtype=torch.float32).eval()
    reference = AutoModelForCausalLM.from_pretrained(reference_dir, dtype=torch.float32).eval()

    def trainer_for(loss, nll, weights, max_length=512):
        cls = dpo.build_trainer_class(trl, reference_dir, loss, nll, 0.3)
        args = trl.DPOConfig(
            output_dir=os.path.join(workdir, "out"),
            beta=beta,
            per_device_train_batch_size=2,
            max_length=max_length,
            use_cpu=True,
            report_to="none",
            disable_dropout=True,
        )
        dataset = Dataset.from_dict({**rows, "weight": weights})
        return cls(model=policy_dir, args=args, train_dataset=dataset, processing_class=tokenizer)

    def batch_loss(trainer):
        examples = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
        batch = trainer.data_collator(examples)
        trainer.model.eval()
        with torch.no_grad():
            return float(trainer.compute_loss(trainer.model, batch)), examples

    def h(example, prefix=""):
        """Log-ratios of chosen and rejected after the example's prompt (or a revision context's)."""
        prompt = example[f"{prefix}prompt_ids"]
        out = []
        for key in ("chosen_ids", "rejected_ids"):
            completion = example[f"{prefix}{key}"]
            out.append(completion_logps(policy, prompt, completion) - completion_logps(reference, prompt, completion))
        return out

    seen = set()
    for weights in ([1.0, 1.0], [2.0, 0.5], [0.0, 1.0]):
        got, examples = batch_loss(trainer_for("dpo", 0.0, weights))
        per_row = [-log_sigmoid(beta * (hw - hl)) for hw, hl in (h(e) for e in examples)]
        close(got, sum(w * l for w, l in zip(weights, per_row)) / 2, FP32)
        seen.add(round(got, 6))
    assert len(seen) == 3, f"the weights change the loss: {seen}"
    print("weighted dpo loss on a tiny model: ok", sorted(seen))

    nll = 0.7
    got, examples = batch_loss(trainer_for("dpo", nll, [2.0, 0.5]))
    hand = 0.0
    for w, e in zip([2.0, 0.5], examples):
        hw, hl = h(e)
        chosen_nll = -completion_logps(policy, e["prompt_ids"], e["chosen_ids"]) / len(e["chosen_ids"])
        hand += w * (-log_sigmoid(beta * (hw - hl)) + nll * chosen_nll)
    close(got, hand / 2, FP32)
    print("nll term: ok", got)

    # max_length 12: row 1 (7 prompt tokens + 8 rejected) is truncated, row 2 (prompt of 21 tokens) dropped.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        trainer_for("dpo", 0.0, [1.0, 1.0], max_length=12)
    line = next(x for x in printed.getvalue().splitlines() if x.startswith("{'train_rows'"))
    expected = "{'train_rows': '2', 'truncated_rows': '1', 'dropped_rows': '1', "
    assert line == expected + "'truncated_rows/direct': '1', 'dropped_rows/refinement': '1'}", line
    print("truncation counted by kind: ok", line)

    try:
        cls = dpo.build_trainer_class(trl, reference_dir, "dpo", 0.0, 0.3)
        args = trl.DPOConfig(output_dir=os.path.join(workdir, "out"), loss_type=["ipo"], use_cpu=True, report_to="none")
        cls(model=policy_dir, args=args, train_dataset=Dataset.from_dict(rows), processing_class=tokenizer)
        raise AssertionError("a TRL loss option evolve's loss would ignore was accepted")
    except ValueError as err:
        assert "--loss_type ['ipo']" in str(err), err
    print("TRL loss options it does not apply are refused: ok")

    got, examples = batch_loss(trainer_for("srpo", 0.0, [1.0, 1.0]))
    hand = 0.0
    for e in examples:
        r = dict(zip(("w", "l"), h(e)))
        r.update(zip(("w|l", "l|l"), h(e, "revise_rejected_")))
        r.update(zip(("w|w", "l|w"), h(e, "revise_chosen_")))
        hand += srpo_by_hand(beta, 0.3, r)
    close(got, hand / 2, FP32)
    print("srpo loss on a tiny model: ok", got)


if __name__ == "__main__":
    check_loss_functions()
    with tempfile.TemporaryDirectory() as workdir:
        check_trainer(workdir)
