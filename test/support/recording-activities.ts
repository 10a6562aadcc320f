import { createActivities, type Activities } from '../../activities/index.js';
import { parseRunConfig } from '../../core/config.js';
import type { Manifest } from '../../core/records.js';

const manifest = (uri: string, rows: number): Manifest => ({
  uri,
  sha256: '0'.repeat(64),
  rows,
  bytes: rows * 10,
  schema: 'x',
  producedBy: { step: 'x', runId: 'r', iteration: 1 },
  stats: {},
  wallMs: 5,
});

/** Activities replaced by recorders: the workflow's ordering and data flow are what is under test. */
export function recordingActivities(
  calls: string[],
  trainingGate: Promise<unknown> = Promise.resolve(),
): Activities {
  const fake = {
    validateConfig: async (input: unknown) => ({ config: parseRunConfig(input), configHash: 'hash' }),
    loadPrompts: async (i: { scope: { dir: string } }) => {
      calls.push(`prompts ${i.scope.dir}`);
      return manifest(`${i.scope.dir}/prompts.jsonl`, 14);
    },
    sampleShard: async (i: {
      scope: { dir: string };
      shard: { index: number };
      policy: { model: string };
      params: { samples: number };
    }) => {
      calls.push(`sample ${i.scope.dir} #${i.shard.index} ${i.policy.model} x${i.params.samples}`);
      return manifest(`${i.scope.dir}/s${i.shard.index}`, 4);
    },
    refineChain: async (i: { scope: { dir: string }; shard: { index: number }; chainDepth: number }) => {
      calls.push(`refine ${i.scope.dir} #${i.shard.index} depth ${i.chainDepth}`);
      return manifest(`${i.scope.dir}/r${i.shard.index}`, 4);
    },
    judgeShard: async (i: { scope: { dir: string }; shard: { index: number }; generations: Manifest[] }) => {
      calls.push(`judge ${i.scope.dir} #${i.shard.index} of ${i.generations.map((g) => g.uri).join('+')}`);
      return manifest(`${i.scope.dir}/j${i.shard.index}`, 8);
    },
    buildPairs: async (i: { scope: { dir: string }; shards: { generations: Manifest[] }[] }) => {
      const generations = i.shards.flatMap((s) => s.generations).length;
      calls.push(`pair ${generations} generation + ${i.shards.length} score manifests`);
      return manifest(`${i.scope.dir}/pairs.jsonl`, 6);
    },
    buildSftSet: async (i: { scope: { dir: string }; dataset: string }) => {
      calls.push(`sft-set ${i.dataset} -> ${i.scope.dir}`);
      return manifest(`${i.scope.dir}/sft.jsonl`, 4);
    },
    submitTraining: async (i: {
      jobKey: string;
      stage?: string;
      policyModel: string;
      referenceModel: string;
      scope: { dir: string };
    }) => {
      calls.push(`submit ${i.policyModel}`);
      calls.push(`${i.stage ?? 'dpo'} of ${i.policyModel} against ${i.referenceModel}`);
      return { jobKey: i.jobKey, jobDir: i.scope.dir, outputDir: `${i.scope.dir}/out`, backend: 'local' };
    },
    awaitTraining: async (job: { outputDir: string; jobKey: string }) => {
      calls.push(`await ${job.jobKey.replace(/-[0-9a-f]{16}$/, '')}`);
      await trainingGate;
      return { path: job.outputDir, parent: '', metrics: { loss: 0.5 }, wallMs: 1000, jobKey: job.jobKey };
    },
    serveCheckpoint: async (target: { model: string; endpoint: unknown }) => {
      calls.push(`serve ${target.model}`);
      return { ...target, probe: '5' };
    },
    summarizeEvaluation: async (i: {
      scope: { dir: string };
      rounds: number;
      strategy: { name: string; keep: string };
    }) => {
      calls.push(`evaluate ${i.rounds} round(s) of ${i.strategy.name}, keep ${i.strategy.keep}`);
      return { uri: `${i.scope.dir}/evaluation.json`, prompts: 10, accuracy: [0.3, 0.4], wallMs: 3 };
    },
    judgeSuiteShard: async (i: {
      scope: { dir: string };
      suite: { name: string };
      shard: { index: number };
      generations: Manifest[];
      scores: Manifest[];
      rounds: number;
    }) => {
      const inputs = [...i.generations, ...i.scores].map((m) => m.uri.slice(m.uri.lastIndexOf('/') + 1));
      calls.push(`verdicts ${i.scope.dir} #${i.shard.index} of ${inputs.join('+')}, ${i.rounds} round(s)`);
      return manifest(`${i.scope.dir}/v${i.shard.index}`, 4);
    },
    summarizeSuite: async (i: {
      scope: { dir: string };
      suite: { name: string; kind: string };
      verdicts: Manifest[];
      rounds: number;
    }) => {
      calls.push(`suite ${i.suite.name} from ${i.verdicts.length} verdict manifest(s), ${i.rounds} round(s)`);
      const rounds = Array.from({ length: i.rounds + 1 }, (_, round) => ({
        round,
        value: 50,
        metrics: {},
        missing: 0,
      }));
      return {
        uri: `${i.scope.dir}/summary.json`,
        name: i.suite.name,
        kind: i.suite.kind,
        headline: 'score',
        judge: `recorded ${i.suite.kind} judge`,
        prompts: 14,
        rounds,
        wallMs: 2,
      };
    },
  };
  return fake as unknown as Activities;
}

/**
 * The real activities, but for training: a CPU `trl dpo` takes minutes and sees no endpoint or key, so
 * its submit and await are recorders; every other step runs against whatever servers the config names.
 */
export function realActivitiesButTraining(): Activities {
  const stand = recordingActivities([]);
  return { ...createActivities(), submitTraining: stand.submitTraining, awaitTraining: stand.awaitTraining };
}
