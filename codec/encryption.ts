import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure, type Payload, type PayloadCodec } from '@temporalio/common';
import { ConfigError } from '../core/config.js';
import { fromJson, toJson } from './payload-json.js';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = (s: string) => new TextEncoder().encode(s);
/** The inner payload: a 4-byte length, its metadata as JSON (values base64), then its data bytes as they are. */
function serialize(p: Payload): Buffer {
  const metadata = Buffer.from(JSON.stringify(toJson({ metadata: p.metadata }).metadata));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(metadata.length);
  return Buffer.concat([length, metadata, p.data ?? new Uint8Array()]);
}

function deserialize(bytes: Buffer): Payload {
  const end = 4 + bytes.readUInt32BE(0);
  const metadata = JSON.parse(bytes.subarray(4, end).toString('utf8')) as Record<string, string>;
  return { metadata: fromJson({ metadata }).metadata, data: new Uint8Array(bytes.subarray(end)) };
}

/**
 * AES-256-GCM over every payload (workflow inputs, results, activity arguments, signals, updates,
 * queries, failures' details): the Temporal server and its history only ever hold ciphertext.
 * Each payload gets a fresh random IV; the key id lets a wrong key be told apart from tampering.
 */
export class EncryptionCodec implements PayloadCodec {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new ConfigError(`an AES-256 key has 32 bytes, got ${key.length}`);
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv);
      const sealed = Buffer.concat([
        iv,
        cipher.update(serialize(payload)),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return { metadata: { encoding: text(ENCODING), [KEY_ID]: text(this.keyId) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = Buffer.from(payload.metadata?.encoding ?? []).toString();
      if (encoding !== ENCODING) return payload; // written before encryption was turned on
      const keyId = Buffer.from(payload.metadata?.[KEY_ID] ?? []).toString();
      if (keyId !== this.keyId) {
        throw ApplicationFailure.nonRetryable(
          `payload was encrypted with key ${keyId}, but EVOLVE_CODEC_KEY is key ${this.keyId}`,
          'WrongCodecKey',
        );
      }
      const data = Buffer.from(payload.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(), // throws when the ciphertext or tag was altered
      ]);
      return deserialize(plain);
    });
  }
}

/** `EVOLVE_CODEC_KEY` (32 bytes, base64, e.g. `openssl rand -base64 32`) turns encryption on; unset, it is off. */
export function codecsFromEnv(env: NodeJS.ProcessEnv = process.env): PayloadCodec[] {
  const value = env.EVOLVE_CODEC_KEY;
  if (!value) return [];
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32 || key.toString('base64') !== value.trim()) {
    throw new ConfigError(
      `EVOLVE_CODEC_KEY: expected 32 bytes in base64 (\`openssl rand -base64 32\`), got ${key.length} byte(s)`,
    );
  }
  return [new EncryptionCodec(key)];
}
