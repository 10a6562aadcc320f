import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { type Manifest, ManifestSchema, type RecordSchemaName, RecordSchemas } from '../core/records.js';
import { DataError, exists } from './files.js';
import { parseRow, readAll, readJsonl } from './jsonl.js';

export type ProducedBy = Manifest['producedBy'];

type RowOf<N extends RecordSchemaName> = z.infer<(typeof RecordSchemas)[N]>;

function schemaOf<N extends RecordSchemaName>(manifest: Manifest, name: N): z.ZodType<RowOf<N>> {
  if (manifest.schema !== name)
    throw new DataError(`${manifest.uri}: holds "${manifest.schema}" rows, expected "${name}"`);
  return RecordSchemas[name] as unknown as z.ZodType<RowOf<N>>;
}

export function readManifestRows<N extends RecordSchemaName>(
  manifest: Manifest,
  name: N,
): Promise<RowOf<N>[]> {
  return readAll(manifest.uri, schemaOf(manifest, name));
}

/** A manifest's rows read as they are used, for a step that need not hold them all. */
export function streamManifestRows<N extends RecordSchemaName>(
  manifest: Manifest,
  name: N,
): AsyncGenerator<RowOf<N>> {
  return readJsonl(manifest.uri, schemaOf(manifest, name));
}

/** Byte offset of each row start (and of the end) of recently sliced files, by content hash. */
const rowOffsets = new Map<string, Promise<number[]>>();
const ROW_OFFSET_CACHE = 8;

async function offsetsOf(manifest: Manifest): Promise<number[]> {
  const offsets = [0];
  let position = 0;
  for await (const chunk of createReadStream(manifest.uri) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) offsets.push(position + i + 1);
    position += chunk.length;
  }
  if (offsets.length - 1 !== manifest.rows)
    throw new DataError(
      `${manifest.uri}: has ${offsets.length - 1} lines, its manifest says ${manifest.rows}`,
    );
  return offsets;
}

/**
 * Rows [start, end) of a manifest's file. Each shard reads only its own bytes: the file is scanned
 * once per worker for row offsets (8 bytes a row), instead of once per shard.
 */
export async function readManifestSlice<N extends RecordSchemaName>(
  manifest: Manifest,
  name: N,
  start: number,
  end: number,
): Promise<RowOf<N>[]> {
  const schema = schemaOf(manifest, name);
  let pending = rowOffsets.get(manifest.sha256);
  if (!pending) {
    pending = offsetsOf(manifest);
    rowOffsets.set(manifest.sha256, pending);
    pending.catch(() => rowOffsets.delete(manifest.sha256));
    if (rowOffsets.size > ROW_OFFSET_CACHE) rowOffsets.delete(rowOffsets.keys().next().value!);
  }
  const offsets = await pending;
  const from = offsets[Math.min(start, manifest.rows)]!;
  const to = offsets[Math.min(end, manifest.rows)]!;
  const file = await open(manifest.uri, 'r');
  try {
    const bytes = Buffer.alloc(to - from);
    await file.read(bytes, 0, bytes.length, from);
    return bytes
      .toString('utf8')
      .split('\n')
      .slice(0, -1)
      .map((line, i) => parseRow(line, schema, `${manifest.uri}:${start + i + 1}`));
  } finally {
    await file.close();
  }
}

export function manifestPath(dataPath: string): string {
  return `${dataPath}.manifest.json`;
}

export async function readManifest(dataPath: string): Promise<Manifest | null> {
  const path = manifestPath(dataPath);
  if (!(await exists(path))) return null;
  return ManifestSchema.parse(JSON.parse(await readFile(path, 'utf8')));
}

/** The job directory's checkpoint.json: a checkpoint is output/ or merged/ of its job directory. */
export const checkpointManifestPath = (checkpoint: string) => join(dirname(checkpoint), 'checkpoint.json');
