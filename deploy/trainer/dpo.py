"""evolve's preference-training entry point: TRL's `trl dpo` script (trl 1.16) with evolve's loss.

TRL's script parses the training flags, loads the model and the dataset, and runs its DPOTrainer; this file
swaps in a subclass whose loss evolve controls, and takes evolve's own flags off the command line first:

  --ref_model_name_or_path P  the reference policy, when it is not the policy being trained (TRL has no flag)
  --evolve_loss dpo|srpo      the preference loss (default dpo)
  --evolve_nll A              RPO-style NLL term: A * -log pi(y_w|x) / |y_w| added to each row's loss
  --srpo_alpha A              SRPO's mix of its generative and self-improvement terms (default 0.5)

Each training row may carry a `weight` column (pairing.weights: the weight of the row's term of L_PT); each
row's loss is scaled by it, and the batch loss is the mean over rows of weight * row loss. Formulas and
sources: docs/training-recipes.md. The functions above the trainer are the loss on tensors, unit-tested.
"""

import os
import sys

import torch
import torch.nn.functional as F


def dpo_losses(beta, h_chosen, h_rejected):
    """Per-row DPO loss -log sigmoid(beta * (h(y_w) - h(y_l))), h = log pi - log pi_ref (summed over tokens)."""
    return -F.logsigmoid(beta * (h_chosen - h_rejected))


def nll_losses(chosen, chosen_tokens):
    """Per-row length-normalised NLL of the chosen answer, RPO's term (Pang et al. 2024, arXiv 2404.19733)."""
    return -chosen / chosen_tokens.clamp(min=1)


def srpo_losses(beta, alpha, h):
    """Per-row SRPO loss (Choi et al. 2024, arXiv 2406.01660), in the form of TRL PR #1772's SRPOTrainer.

    `h` maps each scored sequence to its log-ratio log pi - log pi_ref: "w" and "l" (y_w, y_l given x),
    "w|l" and "l|l" (given the revision context c(x, y_l)), "w|w" and "l|w" (given c(x, y_w)).
    """
    self_improvement = (0.5 - beta * (h["w|l"] - h["l|l"])) ** 2 + (0.5 - beta * (h["w|w"] - h["l|w"])) ** 2
    generative = (beta * (h["w|l"] + h["w"] - h["l|w"] - h["l"]) - 1) ** 2
    return (1 - alpha) * generative + alpha * self_improvement


def weighted_mean(losses, weights):
    """The batch loss: mean over rows of weight * row loss (all weights 1: TRL's own mean)."""
    return (weights.to(losses.dtype) * losses).mean()


def take_flag(argv, name, default=None):
    """Removes `name value` from argv and returns the value (or the default when absent)."""
    if name not in argv:
        return default
    at = argv.index(name)
    value = argv[at + 1]
    del argv[at : at + 2]
    return value


# SRPO scores both answers under the two revision contexts too: c(x, y_l) and c(x, y_w).
REVISIONS = {"revise_rejected": "|l", "revise_chosen": "|w"}


def build_trainer_class(trl, reference, loss, nll, srpo_alpha):
    from accelerate.utils import is_peft_model
    from trl.data_utils import _tokenize, common_prefix_length
    from trl.models.utils import disable_gradient_checkpointing
    from trl.trainer.utils import create_model_from_path, use_adapter

    is_main = int(os.environ.get("RANK", "0")) == 0

    class EvolveDPOTrainer(trl.DPOTrainer):
        def __init__(self, *args, **kwargs):
            if reference is not None:
                init = dict(kwargs["args"].model_init_kwargs or {})
                kwargs["ref_model"] = create_model_from_path(reference, **init)
            super().__init__(*args, **kwargs)
            # TRL options of its own loss that this one does not apply must not be accepted and ignored.
            ignored = {
                "loss_type": (self.loss_types, ["sigmoid"]),
                "loss_weights": (self.loss_weights, [1.0]),
                "precompute_ref_log_probs": (self.precompute_ref_logps, False),
                "use_weighting": (self.use_weighting, False),
                "ld_alpha": (self.ld_alpha, None),
                "f_divergence_type": (self.f_divergence_type, "reverse_kl"),
                "label_smoothing": (self.label_smoothing, 0.0),
            }
            for name, (value, default) in ignored.items():
                if value != default:
                    raise ValueError(f"--{name} {value}: evolve's loss (trainer.loss, trainer.nll) does not apply it")
            self.data_collator = self._with_evolve_columns(self.data_collator)

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            if "weight" in self._signature_columns:
                return
            extra = ["weight"] + [f"{r}_{k}" for r in REVISIONS for k in ("prompt_ids", "chosen_ids", "rejected_ids")]
            self._signature_columns = list(self._signature_columns) + extra

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            rows = len(dataset)
            kinds = list(dataset["kind"]) if "kind" in dataset.column_names else None
            if kinds is not None:
                dataset = dataset.add_column("evolve_index", list(range(rows)))
            prepared = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            if loss == "srpo":
                prepared = prepared.map(self._tokenize_revisions, fn_kwargs={"processing_class": processing_class})
            if is_main and dataset_name == "train":
                self._report_truncation(prepared, rows, kinds, args.max_length)
            return prepared

        @staticmethod
        def _tokenize_revisions(example, processing_class):
            # As TRL tokenizes the prompt: the completion starts where prompt and prompt+answer diverge.
            out = {}
            for context in REVISIONS:
                prompt = example[context]
                prompt_ids = _tokenize(processing_class, prompt, add_generation_prompt=True)["input_ids"]
                chosen = _tokenize(processing_class, prompt + example["chosen"])["input_ids"]
                rejected = _tokenize(processing_class, prompt + example["rejected"])["input_ids"]
                n = min(common_prefix_length(prompt_ids, chosen), common_prefix_length(prompt_ids, rejected))
                out[f"{context}_prompt_ids"] = prompt_ids[:n]
                out[f"{context}_chosen_ids"] = chosen[n:]
                out[f"{context}_rejected_ids"] = rejected[n:]
            return out

        @staticmethod
        def _report_truncation(prepared, rows, kinds, max_length):
            """Rows the collator truncates (prompt + answer over max_length) or TRL dropped (prompt alone fills it),
            as a metrics line of the trainer log, which the checkpoint manifest collects."""
            if max_length is None:
                return
            stats = {"train_rows": rows, "truncated_rows": 0, "dropped_rows": rows - len(prepared)}
            kept = set()
            for i, example in enumerate(prepared):
                longest = len(example["prompt_ids"]) + max(len(example["chosen_ids"]), len(example["rejected_ids"]))
                index = example["evolve_index"] if kinds is not None else i
                kept.add(index)
                if longest > max_length:
                    stats["truncated_rows"] += 1
                    if kinds is not None:
                        key = f"truncated_rows/{kinds[index]}"
                        stats[key] = stats.get(key, 0) + 1
            if kinds is not None:
                for index in set(range(rows)) - kept:
                    key = f"dropped_rows/{kinds[index]}"
                    stats[key] = stats.get(key, 0) + 1
            print("{" + ", ".join(f"'{k}': '{v}'" for k, v in stats.items()) + "}", flush=True)

        @staticmethod
        def _with_evolve_columns(collate):
            def collator(examples):
                batch = collate(examples)
                batch["weight"] = torch.tensor([float(e.get("weight", 1.0)) for e in examples])
                if loss == "srpo":
                    for context in REVISIONS:
                        keys = ("prompt_ids", "chosen_ids", "rejected_ids")
                        sub = collate([{k: e[f"{context}_{k}"] for k in keys} for e in examples])
                        for k, v in sub.items():
                            batch[f"{context}/{k}"] = v
                return batch

            return collator

        def _sequence_logps(self, model, batch, reference):
            """Summed log-probs of each completion ([chosen..., rejected...]) and its token count."""
            mask = batch["completion_mask"]
            labels = batch["input_ids"].masked_fill(mask == 0, -100)
            kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
            if not reference:
                out = model(**kwargs, labels=labels, fused_lm_head=True)
            else:
                with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
                    if is_peft_model(self.model) and self.ref_model is None:
                        unwrapped = self.accelerator.unwrap_model(self.model)
                        name = "ref" if "ref" in unwrapped.peft_config else None
                        with use_adapter(unwrapped, adapter_name=name):
                            out = self.model(**kwargs, labels=labels, fused_lm_head=True)
                    else:
                        out = self.ref_model(**kwargs, labels=labels, fused_lm_head=True)
            shift = mask[..., 1:]
            per_token = out.log_probs[:, -shift.size(1) :] * shift
            return per_token.sum(dim=1), shift.sum(dim=1)

        def _log_ratios(self, model, batch, suffix):
            logps, tokens = self._sequence_logps(model, batch, reference=False)
            ref_logps, _ = self._sequence_logps(model, batch, reference=True)
            chosen, rejected = logps.chunk(2)
            ref_chosen, ref_rejected = ref_logps.chunk(2)
            return {f"w{suffix}": chosen - ref_chosen, f"l{suffix}": rejected - ref_rejected}, chosen, tokens.chunk(2)[0]

        def _compute_loss(self, model, inputs, return_outputs):
            mode = "train" if self.model.training else "eval"
            weight = inputs["weight"]
            main = {k: inputs[k] for k in ("input_ids", "attention_mask", "completion_mask")}
            h, chosen_logps, chosen_tokens = self._log_ratios(model, main, "")
            if loss == "srpo":
                for context, suffix in REVISIONS.items():
                    sub = {k: inputs[f"{context}/{k}"] for k in ("input_ids", "attention_mask", "completion_mask")}
                    h.update(self._log_ratios(model, sub, suffix)[0])
                per_row = srpo_losses(self.beta, srpo_alpha, h)
            else:
                per_row = dpo_losses(self.beta, h["w"], h["l"])
            if nll:
                nll_rows = nll_losses(chosen_logps, chosen_tokens)
                self._metrics[mode]["nll_loss"].append(self.accelerator.gather(nll_rows.detach()).mean().item())
                per_row = per_row + nll * nll_rows
            chosen_rewards = self.beta * h["w"].detach()
            rejected_rewards = self.beta * h["l"].detach()
            gather = lambda t: self.accelerator.gather(t).mean().item()  # noqa: E731
            self._metrics[mode]["rewards/chosen"].append(gather(chosen_rewards))
            self._metrics[mode]["rewards/rejected"].append(gather(rejected_rewards))
            self._metrics[mode]["rewards/margins"].append(gather(chosen_rewards - rejected_rewards))
            self._metrics[mode]["rewards/accuracies"].append(gather((chosen_rewards > rejected_rewards).float()))
            self._metrics[mode]["logps/chosen"].append(gather(chosen_logps.detach()))
            result = weighted_mean(per_row, weight)
            return (result, None) if return_outputs else result

    return EvolveDPOTrainer


def die_with_launcher():
    """Under accelerate launch (torchrun), each rank runs in its own session: a group kill of the job reaches
    only the launcher, so a rank dies when its launcher does (Linux PR_SET_PDEATHSIG) instead of training on."""
    if "LOCAL_RANK" in os.environ and sys.platform == "linux":
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def main(argv):
    die_with_launcher()
    reference = take_flag(argv, "--ref_model_name_or_path")
    loss = take_flag(argv, "--evolve_loss", "dpo")
    nll = float(take_flag(argv, "--evolve_nll", "0"))
    srpo_alpha = float(take_flag(argv, "--srpo_alpha", "0.5"))
    if loss not in ("dpo", "srpo"):
        raise SystemExit(f"--evolve_loss: expected dpo or srpo, got {loss!r}")
    import trl
    from trl.scripts import dpo

    # TRL's script imports DPOTrainer from trl when it runs: it then builds this subclass.
    trl.DPOTrainer = build_trainer_class(trl, reference, loss, nll, srpo_alpha)
    sys.argv = argv
    # A misspelt trainer.extraArgs flag must fail the job, not do nothing.
    dpo.main(*dpo.make_parser().parse_args_and_config(fail_with_unknown_args=True))


if __name__ == "__main__":
    main(list(sys.argv))
