import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError } from '../core/config.js';

/** What worker, CLI and doctor pass to Connection.connect / NativeConnection.connect. */
export interface TemporalConnectionSettings {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

/**
 * The Temporal connection from the variables the Temporal CLI reads: TEMPORAL_ADDRESS,
 * TEMPORAL_API_KEY, TEMPORAL_TLS (true/false), TEMPORAL_TLS_CLIENT_CERT / _CLIENT_KEY / _SERVER_CA_CERT
 * as _PATH (files) or _DATA (PEM text), TEMPORAL_TLS_SERVER_NAME. Any TLS variable or an API key turns TLS on (an API
 * key is a bearer credential: never sent in the clear); TEMPORAL_TLS=false with an API key is refused.
 */
export function temporalConnection(
  defaultAddress: string,
  env: NodeJS.ProcessEnv = process.env,
): TemporalConnectionSettings {
  // `temporal options` names each PEM twice: <prefix>_PATH (a file) and <prefix>_DATA (the text).
  const pem = (prefix: string): Buffer | undefined => {
    const data = env[`${prefix}_DATA`];
    const path = env[`${prefix}_PATH`];
    if (data && path) throw new ConfigError(`${prefix}_PATH and ${prefix}_DATA: set one of them`);
    if (data) return Buffer.from(data);
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${prefix}_PATH=${path}: cannot read it: ${(err as Error).message}`);
    }
  };
  const crt = pem('TEMPORAL_TLS_CLIENT_CERT');
  const key = pem('TEMPORAL_TLS_CLIENT_KEY');
  if ((crt === undefined) !== (key === undefined))
    throw new ConfigError(
      'TEMPORAL_TLS_CLIENT_CERT_* and TEMPORAL_TLS_CLIENT_KEY_*: a client certificate needs both',
    );
  const ca = pem('TEMPORAL_TLS_SERVER_CA_CERT');
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const flag = env.TEMPORAL_TLS?.toLowerCase();
  if (flag !== undefined && flag !== 'true' && flag !== 'false')
    throw new ConfigError(`TEMPORAL_TLS=${env.TEMPORAL_TLS}: expected true or false`);
  if (flag === 'false' && apiKey)
    throw new ConfigError('TEMPORAL_TLS=false with TEMPORAL_API_KEY: an API key is never sent without TLS');
  const tlsOn = flag === 'true' || (flag === undefined && Boolean(crt || ca || serverName || apiKey));
  const tls: TLSConfig | undefined = tlsOn
    ? {
        ...(serverName ? { serverNameOverride: serverName } : {}),
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(crt && key ? { clientCertPair: { crt, key } } : {}),
      }
    : undefined;
  return {
    address: env.TEMPORAL_ADDRESS || defaultAddress,
    ...(tls ? { tls } : {}),
    ...(apiKey ? { apiKey } : {}),
  };
}
