import type { Payload } from '@temporalio/common';
import { z } from 'zod';

/** A payload as the codec server protocol sends it: protobuf JSON, bytes as base64. */
// Protobuf JSON readers take either alphabet, padded or not.
const bytes = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'expected base64');
export const JsonPayloadSchema = z.strictObject({
  metadata: z.record(z.string(), bytes).nullish(),
  data: bytes.nullish(),
});
export type JsonPayload = z.infer<typeof JsonPayloadSchema>;

/** A request body of /encode and /decode. */
export const CodecBodySchema = z.object({ payloads: z.array(JsonPayloadSchema) });

export const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
  ),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});

export const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
