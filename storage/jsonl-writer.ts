import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Manifest, type RecordSchemaName } from '../core/records.js';
import { secretScrubber } from '../core/redact.js';
import { writeAtomic } from './files.js';
import { manifestPath, type ProducedBy } from './manifests.js';

type ManifestExtra = Partial<Pick<Manifest, 'stats' | 'wallMs'>>;
let writersOpened = 0;

/**
 * A JSONL file written row by row (so a step need not hold its output in memory), hashed on the way.
 * Rows go to a temp file; `finish` renames it into place and then writes the manifest, so the
 * manifest's presence still means the data is complete. `abort` leaves nothing behind.
 */
export class JsonlWriter {
  private readonly hash = createHash('sha256');
  private pending: string[] = [];
  private pendingChars = 0;
  private rows = 0;
  private bytes = 0;
  private readonly scrub = secretScrubber();

  private constructor(
    readonly uri: string,
    private readonly tmp: string,
    private readonly handle: Awaited<ReturnType<typeof open>>,
  ) {}

  static async create(dataPath: string): Promise<JsonlWriter> {
    const uri = resolve(dataPath);
    await mkdir(dirname(uri), { recursive: true });
    // Unique per writer: a timed-out attempt still writing in this process must not share the file.
    const tmp = `${uri}.tmp-${process.pid}-${writersOpened++}`;
    return new JsonlWriter(uri, tmp, await open(tmp, 'w'));
  }

  async write(row: unknown): Promise<void> {
    const line = this.scrub(JSON.stringify(row)) + '\n';
    this.pending.push(line);
    this.pendingChars += line.length;
    this.rows++;
    if (this.pendingChars >= 1 << 20) await this.flush();
  }

  /** Appends lines already serialised and scrubbed (a journal's), each ending in a newline. */
  async writeLines(chunk: Buffer, rows: number): Promise<void> {
    await this.flush();
    this.rows += rows;
    await this.put(chunk);
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingChars = 0;
    await this.put(chunk);
  }

  private async put(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    await this.handle.write(chunk);
  }

  async finish(
    schema: RecordSchemaName,
    producedBy: ProducedBy,
    extra: ManifestExtra = {},
  ): Promise<Manifest> {
    await this.flush();
    await this.handle.close();
    await rename(this.tmp, this.uri);
    const manifest: Manifest = {
      uri: this.uri,
      sha256: this.hash.digest('hex'),
      rows: this.rows,
      bytes: this.bytes,
      schema,
      producedBy,
      stats: extra.stats ?? {},
      wallMs: extra.wallMs ?? 0,
    };
    await writeAtomic(manifestPath(this.uri), JSON.stringify(manifest, null, 2) + '\n');
    return manifest;
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Runs `write` with a fresh writer per path; if it fails, none of their files is left behind. */
export async function writingJsonl<K extends string, T>(
  paths: Record<K, string>,
  write: (writers: Record<K, JsonlWriter>) => Promise<T>,
): Promise<T> {
  const writers = {} as Record<K, JsonlWriter>;
  try {
    for (const [name, path] of Object.entries(paths) as [K, string][])
      writers[name] = await JsonlWriter.create(path);
    return await write(writers);
  } catch (err) {
    await Promise.all(Object.values<JsonlWriter>(writers).map((w) => w.abort()));
    throw err;
  }
}

/** Writes rows and then their manifest, both atomically (see JsonlWriter). */
export function writeJsonlWithManifest(
  dataPath: string,
  schema: RecordSchemaName,
  rows: readonly unknown[],
  producedBy: ProducedBy,
  extra: ManifestExtra = {},
): Promise<Manifest> {
  return writingJsonl({ out: dataPath }, async ({ out }) => {
    for (const row of rows) await out.write(row);
    return out.finish(schema, producedBy, extra);
  });
}
