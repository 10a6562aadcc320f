import type { Trainer } from '../../core/config.js';

/**
 * Recipes generated from the run config. Every backend runs the same `trl dpo` command line, wrapped by
 * `resumable()`; the OpenRLHF command is recorded next to it as the multi-node alternative.
 */
export function dpoArgs(trainer: Trainer, model: string, dataDir: string, outputDir: string): string[] {
  const lora = trainer.lora;
  return [
    '--model_name_or_path',
    model,
    '--dataset_name',
    dataDir,
    '--output_dir',
    outputDir,
    '--beta',
    String(trainer.beta),
    '--learning_rate',
    String(trainer.learningRate),
    '--num_train_epochs',
    String(trainer.epochs),
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
    ...trainer.extraArgs,
  ];
}

/**
 * `sh -c` that logs the library versions, then runs TRL's DPO script, adding `--resume_from_checkpoint`
 * with the newest checkpoint-N in the output directory: a restarted trainer (local relaunch, Kubernetes
 * pod retry) continues where the killed one last saved. The script runs as this shell's own process
 * (not under the `trl` CLI's launcher), so a trainer killed by a signal is seen as killed.
 */
const RESUMABLE = `py="$1"; out="$2"; shift 2
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
exec "$py" -m trl.scripts.dpo "$@"`;

export function resumable(python: string, args: string[], outputDir: string): string[] {
  return ['sh', '-c', RESUMABLE, 'evolve-train', python, outputDir, ...args];
}

/**
 * The same preference training with OpenRLHF's DPO trainer (DeepSpeed; on Ray for several nodes):
 * `ray job submit --address <ray> -- <this command>`. Recorded in recipe.json, not run by evolve.
 */
export function openRLHFCommand(
  trainer: Trainer,
  model: string,
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
    '--beta',
    String(trainer.beta),
    '--learning_rate',
    String(trainer.learningRate),
    '--max_epochs',
    String(Math.ceil(trainer.epochs)),
    '--micro_train_batch_size',
    String(trainer.batchSize),
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
          '--target_modules',
          ...lora.targetModules,
        ]
      : []),
  ];
}
