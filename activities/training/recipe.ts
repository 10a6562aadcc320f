import { fileURLToPath } from 'node:url';
import type { Trainer } from '../../core/config.js';
import { fnv1a64 } from '../../core/templates.js';

/**
 * Recipes generated from the run config. Every backend runs the same command line (`trl sft` for the
 * self-refinement-aware SFT stage, deploy/trainer/dpo.py for preference training), wrapped by `resumable()`; the
 * OpenRLHF command is recorded next to the DPO one as the multi-node alternative.
 */
export type Stage = 'sft' | 'dpo';

/** The flags both stages share: data, output, schedule, checkpointing, LoRA and device. */
function trainingArgs(
  trainer: Trainer,
  run: { model: string; dataDir: string; outputDir: string; learningRate: number; epochs: number },
): string[] {
  const lora = trainer.lora;
  return [
    '--model_name_or_path',
    run.model,
    '--dataset_name',
    run.dataDir,
    '--output_dir',
    run.outputDir,
    '--learning_rate',
    String(run.learningRate),
    '--num_train_epochs',
    String(run.epochs),
    '--per_device_train_batch_size',
    String(trainer.batchSize),
    '--gradient_accumulation_steps',
    String(trainer.gradientAccumulation),
    '--max_length',
    String(trainer.maxLength),
    '--logging_steps',
    '1',
    ...(trainer.saveSteps
      ? ['--save_strategy', 'steps', '--save_steps', String(trainer.saveSteps), '--save_total_limit', '2']
      : ['--save_strategy', 'epoch']),
    '--save_only_model',
    'false',
    '--report_to',
    'none',
    '--disable_tqdm',
    'true',
    ...(lora
      ? [
          '--use_peft',
          'true',
          '--lora_r',
          String(lora.r),
          '--lora_alpha',
          String(lora.alpha),
          '--lora_dropout',
          String(lora.dropout),
          '--lora_target_modules',
          ...lora.targetModules,
        ]
      : []),
    // On CPU bf16 runs through a slow fallback matmul (5-10x slower on AVX2): train in fp32 there.
    ...(trainer.device === 'cpu'
      ? ['--use_cpu', 'true', '--bf16', 'false', '--dtype', 'float32']
      : ['--bf16', 'true']),
  ];
}

export function dpoArgs(trainer: Trainer, model: string, dataDir: string, outputDir: string): string[] {
  const run = { model, dataDir, outputDir, learningRate: trainer.learningRate, epochs: trainer.epochs };
  return [
    ...trainingArgs(trainer, run),
    '--beta',
    String(trainer.beta),
    '--evolve_loss',
    trainer.loss,
    ...(trainer.nll > 0 ? ['--evolve_nll', String(trainer.nll)] : []),
    ...(trainer.loss === 'srpo' ? ['--srpo_alpha', String(trainer.srpoAlpha)] : []),
    ...trainer.extraArgs,
  ];
}

/** `trl sft` on prompt-completion rows: the loss is on the completion (y_w) only, TRL's default for them. */
export function sftArgs(trainer: Trainer, model: string, dataDir: string, outputDir: string): string[] {
  const { learningRate, epochs } = trainer.sft;
  return trainingArgs(trainer, { model, dataDir, outputDir, learningRate, epochs });
}

/** evolve's DPO entry point (TRL's `trl dpo` script with evolve's loss), copied into each job directory. */
export const DPO_ENTRY_POINT = fileURLToPath(new URL('../../deploy/trainer/dpo.py', import.meta.url));

/**
 * The python arguments that run a stage: TRL's own SFT script, or evolve's DPO entry point (the job's copy,
 * `script`), told the reference policy when it is not the policy being trained (TRL has no flag for it).
 */
export function entryPoint(
  stage: Stage,
  policyModel: string,
  referenceModel: string,
  script: string,
): string[] {
  if (stage === 'sft') return ['-m', 'trl.scripts.sft'];
  return [script, ...(referenceModel === policyModel ? [] : ['--ref_model_name_or_path', referenceModel])];
}

/** evolve's `accelerate launch` (deploy/trainer/launch.py), copied into each job that runs several processes. */
export const LAUNCH_ENTRY_POINT = fileURLToPath(new URL('../../deploy/trainer/launch.py', import.meta.url));

/**
 * The entry point under the launcher: as it is for one python process, or after the job's copy of
 * deploy/trainer/launch.py (the `accelerate launch` CLI) for several, with the job's copy of the accelerate
 * config file if any (else plain data parallel through torchrun). The rendezvous port is derived from the
 * job key, so two jobs launched on one machine do not take the same one.
 */
export function launched(
  trainer: Trainer,
  entry: string[],
  files: { launcher: string; config: string | null },
  jobKey: string,
): string[] {
  const launcher = trainer.launcher;
  if (launcher.kind === 'python') return entry;
  const port = 20_000 + (parseInt(fnv1a64(jobKey).slice(0, 8), 16) % 20_000);
  return [
    files.launcher,
    '--num_processes',
    String(launcher.numProcesses),
    '--num_machines',
    '1',
    '--main_process_port',
    String(port),
    ...(files.config
      ? [
          '--config_file',
          files.config,
          // The file's bf16 would reach the trainer as ACCELERATE_MIXED_PRECISION (it wins over `--bf16 false`):
          // on the CPU, fp32 as with one process.
          ...(trainer.device === 'cpu' ? ['--mixed_precision', 'no'] : []),
        ]
      : ['--multi_gpu', '--mixed_precision', 'no', '--dynamo_backend', 'no']),
    ...entry,
  ];
}

/**
 * `sh -c` that logs the library versions, then runs the stage's entry point, adding
 * `--resume_from_checkpoint` with the newest checkpoint-N in the output directory: a restarted trainer
 * (local relaunch, Kubernetes pod retry, Ray resubmission) continues where the killed one last saved. The
 * trainer is this shell's child (not under the `trl` CLI's launcher), so one killed by a signal is seen as
 * killed (exit 128+n). A LoRA adapter is then merged into its base model (peft's merge_and_unload) in the
 * merge directory: the next step trains a full model, as after full fine-tuning. Given a served-adapter
 * directory, it first writes there what vLLM serves over the base model: pi_t = base + A_1 + ... + A_t as
 * one LoRA, the parent's served adapter and this one concatenated (peft's "cat": ranks add up, exact).
 */
const RESUMABLE = `py="$1"; out="$2"; merged="$3"; parent_served="$4"; served="$5"; shift 5
"$py" -c 'import importlib.metadata as m
for p in ("trl", "transformers", "torch", "accelerate", "datasets", "peft", "deepspeed"):
    try: print("evolve-version", p, m.version(p))
    except m.PackageNotFoundError: pass'
last=""; n=-1
for d in "$out"/checkpoint-*; do
  [ -d "$d" ] || continue
  s="\${d##*-}"
  if [ "$s" -gt "$n" ]; then n="$s"; last="$d"; fi
done
if [ -n "$last" ]; then
  echo "evolve: resuming from $last" >&2
  set -- "$@" --resume_from_checkpoint "$last"
fi
"$py" "$@" || exit $?
[ -z "$merged" ] && exit 0
echo "evolve: merging the adapter in $out into $merged" >&2
exec "$py" -c 'import os, shutil, sys
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer
adapter, merged, parent_served, served = sys.argv[1:]
model = AutoPeftModelForCausalLM.from_pretrained(adapter, dtype="auto")
if served:
    partial, name = served + ".partial", "default"
    shutil.rmtree(partial, ignore_errors=True)
    if parent_served:
        # Parent first: the sum keeps its base_model_name_or_path, the lineage base vLLM runs.
        model.load_adapter(parent_served, adapter_name="parent")
        name = "served"
        model.add_weighted_adapter(["parent", "default"], [1.0, 1.0], name, combination_type="cat")
    model.save_pretrained(partial, selected_adapters=[name])
    shutil.rmtree(served, ignore_errors=True)
    os.rename(partial if name == "default" else os.path.join(partial, name), served)
    shutil.rmtree(partial, ignore_errors=True)
    model.set_adapter("default")
    for extra in ("parent", "served"):
        if extra in model.peft_config: model.delete_adapter(extra)
model.merge_and_unload().save_pretrained(merged)
AutoTokenizer.from_pretrained(adapter).save_pretrained(merged)' "$out" "$merged" "$parent_served" "$served"`;

/**
 * The trainer's command line. LoRA only: `mergedDir` receives the adapter merged into its parent;
 * `servedDir`, if given, the adapter vLLM serves over the base model, adding up `parentServedDir` (the
 * parent checkpoint's, null when the parent is the base model) and this job's adapter.
 */
export function resumable(
  python: string,
  entry: string[],
  args: string[],
  dirs: {
    outputDir: string;
    mergedDir: string | null;
    servedDir?: string | null;
    parentServedDir?: string | null;
  },
): string[] {
  return [
    'sh',
    '-c',
    RESUMABLE,
    'evolve-train',
    python,
    dirs.outputDir,
    dirs.mergedDir ?? '',
    dirs.parentServedDir ?? '',
    dirs.servedDir ?? '',
    ...entry,
    ...args,
  ];
}

/**
 * The same preference training with OpenRLHF's DPO trainer (DeepSpeed; on Ray for several nodes):
 * `ray job submit --address <ray> -- <this command>`. Recorded in recipe.json, not run by evolve. Flags
 * as `openrlhf/cli/train_dpo.py` defines them: it reads the conversational rows with the tokenizer's
 * chat template, and resumes from its DeepSpeed checkpoints (--ckpt_path, --load_checkpoint).
 */
export function openRLHFCommand(
  trainer: Trainer,
  model: string,
  referenceModel: string,
  dataFile: string,
  outputDir: string,
): string[] {
  const lora = trainer.lora;
  return [
    'deepspeed',
    '--module',
    'openrlhf.cli.train_dpo',
    '--pretrain',
    model,
    '--ref_pretrain',
    referenceModel,
    '--dataset',
    dataFile,
    '--prompt_key',
    'prompt',
    '--chosen_key',
    'chosen',
    '--rejected_key',
    'rejected',
    '--apply_chat_template',
    '--save_path',
    outputDir,
    '--ckpt_path',
    `${outputDir}/checkpoints`,
    '--load_checkpoint',
    ...(trainer.saveSteps ? ['--save_steps', String(trainer.saveSteps)] : []),
    '--logging_steps',
    '1',
    '--beta',
    String(trainer.beta),
    '--learning_rate',
    String(trainer.learningRate),
    // An int there: a fractional epoch count rounds up.
    '--max_epochs',
    String(Math.ceil(trainer.epochs)),
    '--micro_train_batch_size',
    String(trainer.batchSize),
    // The global batch on one GPU; scale by the number of GPUs on more.
    '--train_batch_size',
    String(trainer.batchSize * trainer.gradientAccumulation),
    '--max_len',
    String(trainer.maxLength),
    '--zero_stage',
    '3',
    '--bf16',
    '--gradient_checkpointing',
    ...(lora
      ? [
          '--lora_rank',
          String(lora.r),
          '--lora_alpha',
          String(lora.alpha),
          '--lora_dropout',
          String(lora.dropout),
          '--target_modules',
          ...lora.targetModules,
        ]
      : []),
  ];
}
