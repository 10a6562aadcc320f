import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure, type Payload, type PayloadCodec } from '@temporalio/common';
import { ConfigError } from '../core/config.js';
import { fromJson, toJson, type JsonPayload } from './payload-json.js';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = (s: string) => new TextEncoder().encode(s);
/** The inner payload is kept in the codec protocol's JSON form: metadata values and data as base64. */
const serialize = (p: Payload) => Buffer.from(JSON.stringify(toJson(p)));
const deserialize = (bytes: Buffer) => fromJson(JSON.parse(bytes.toString('utf8')) as JsonPayload);

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
