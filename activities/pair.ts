import { join } from 'node:path';
import { DROP_REASONS, evolveRows, selectPair, sftRows, type DropReason } from '../core/pairing.js';
import type { Manifest, PairRecord } from '../core/records.js';
import type { BuildPairsInput } from '../core/steps.js';
import { readManifestSlice } from '../storage/manifests.js';
import { writingJsonl } from '../storage/jsonl-writer.js';
import { reusableOutput, stepKey } from '../storage/reuse.js';
import { readScoredByPrompt } from './scored.js';

interface PairGroup {
  start: number;
  end: number;
  generations: Manifest[];
  scores: Manifest[];
}

/** The input's shards in prompt order. */
function groupsOf(input: BuildPairsInput): PairGroup[] {
  return input.shards.map((s) => ({ ...s, scores: [s.scores] }));
}

/**
 * The pair step's outputs, in TRL's conversational format: pairs.jsonl (EVOLVE L_PT rows, direct and
 * refinement, with term weights; what the trainer reads), sft.jsonl (self-refinement-aware SFT rows)
 * and dpo-direct.jsonl (plain iterative-DPO rows, the baseline). The dataset card is pairs.jsonl's
 * manifest stats; that manifest is written last, so its presence means all three are complete.
 */
export function buildPairs(input: BuildPairsInput): Promise<Manifest> {
  const groups = groupsOf(input);
  const inputs = [input.prompts, ...groups.flatMap((g) => g.generations), ...groups.flatMap((g) => g.scores)];
  const key = stepKey(
    'pair',
    inputs.map((m) => m.sha256),
    { pairing: input.pairing, refinement: input.refinement },
  );
  return reusableOutput(input.scope, key, () => pair(input, groups));
}

/** Margin histogram bins of the dataset card (upper edges; the last bin is open). */
const MARGIN_EDGES = [0.25, 0.5, 1, 2, 4, 8, Infinity];

/** The dataset card, accumulated pair by pair. */
class DatasetCard {
  pairs = 0;
  private refinementWon = 0;
  private margin = 0;
  private chosenChars = 0;
  private rejectedChars = 0;
  private chosenLonger = 0;
  private readonly bins = MARGIN_EDGES.map(() => 0);

  add(direct: PairRecord, refinementWon: boolean): void {
    const chosen = direct.chosen[0]!.content.length;
    const rejected = direct.rejected[0]!.content.length;
    this.pairs++;
    if (refinementWon) this.refinementWon++;
    this.margin += direct.margin;
    this.chosenChars += chosen;
    this.rejectedChars += rejected;
    if (chosen > rejected) this.chosenLonger++;
    const bin = MARGIN_EDGES.findIndex((edge) => direct.margin < edge);
    if (bin >= 0) this.bins[bin]!++;
  }

  stats(): Record<string, number> {
    const share = (n: number) => (this.pairs === 0 ? 0 : n / this.pairs);
    const histogram = Object.fromEntries(
      MARGIN_EDGES.map((edge, i) => {
        const lower = i === 0 ? 0 : MARGIN_EDGES[i - 1];
        return [`margin[${lower},${edge === Infinity ? 'inf' : edge})`, this.bins[i]!];
      }),
    );
    return {
      refinementWonShare: share(this.refinementWon),
      meanMargin: share(this.margin),
      ...histogram,
      meanChosenChars: share(this.chosenChars),
      meanRejectedChars: share(this.rejectedChars),
      chosenLongerShare: share(this.chosenLonger),
    };
  }
}

async function pair(input: BuildPairsInput, groups: PairGroup[]): Promise<Manifest> {
  const started = Date.now();
  const dir = (name: string) => join(input.scope.dir, name);
  const files = { pairs: dir('pairs.jsonl'), sft: dir('sft.jsonl'), direct: dir('dpo-direct.jsonl') };
  return writingJsonl(files, async (writers) => {
    const card = new DatasetCard();
    const dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
    let prompts = 0;
    let refinementPairs = 0;
    let sftRowCount = 0;
    // One shard in memory at a time: its prompts, responses and scores.
    for (const group of groups) {
      const shardPrompts = await readManifestSlice(input.prompts, 'prompt', group.start, group.end);
      const byPrompt = await readScoredByPrompt(group.generations, group.scores);
      for (const prompt of shardPrompts) {
        prompts++;
        const decision = selectPair(byPrompt.get(prompt.id) ?? [], input.pairing);
        if (decision.kind === 'drop') {
          dropped[decision.reason]++;
          continue;
        }
        for (const row of evolveRows(prompt.prompt, decision, input.pairing, input.refinement)) {
          await writers.pairs.write(row);
          if (row.kind === 'direct') {
            await writers.direct.write(row);
            card.add(row, decision.chosen.step > 1);
          } else refinementPairs++;
        }
        for (const row of sftRows(prompt.prompt, decision, input.refinement)) {
          await writers.sft.write(row);
          sftRowCount++;
        }
      }
    }
    const producedBy = { step: 'pair', runId: input.scope.runId, iteration: input.scope.iteration };
    await writers.sft.finish('sft', producedBy);
    await writers.direct.finish('pair', producedBy);
    const stats = {
      prompts,
      pairedPrompts: card.pairs,
      directPairs: card.pairs,
      refinementPairs,
      sftRows: sftRowCount,
      [`pairsByRule.${input.pairing.rule}`]: card.pairs,
      droppedUnjudged: dropped.unjudged,
      droppedSingleResponse: dropped['single-response'],
      droppedBelowMargin: dropped['below-margin'],
      droppedTie: dropped.tie,
      ...card.stats(),
      weightDirect: input.pairing.weights.direct,
      weightRefinement: input.pairing.weights.refinement,
    };
    return writers.pairs.finish('pair', producedBy, { stats, wallMs: Date.now() - started });
  });
}
