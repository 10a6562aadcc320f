import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/worker';

export interface TemporalConnectionSettings {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/**
 * How the worker and the CLI reach Temporal, from the variables the `temporal` CLI reads too:
 * TEMPORAL_ADDRESS; for mTLS (self-hosted or Temporal Cloud) TEMPORAL_TLS_CLIENT_CERT_PATH and
 * TEMPORAL_TLS_CLIENT_KEY_PATH, optionally TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME;
 * for a Temporal Cloud API key TEMPORAL_API_KEY (TLS is then on); TEMPORAL_TLS=true for TLS alone.
 */
export function temporalConnection(
  env: NodeJS.ProcessEnv = process.env,
  defaultAddress = '127.0.0.1:7233',
): TemporalConnectionSettings {
  const read = (name: string): Buffer | undefined => {
    const path = env[name];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(
        `${name}=${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        { cause: err },
      );
    }
  };
  const crt = read('TEMPORAL_TLS_CLIENT_CERT_PATH');
  const key = read('TEMPORAL_TLS_CLIENT_KEY_PATH');
  if (!crt !== !key)
    throw new Error(
      'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH: set both for mTLS, or neither',
    );
  const ca = read('TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const tlsFlag = env.TEMPORAL_TLS;
  if (tlsFlag !== undefined && !['true', 'false'].includes(tlsFlag))
    throw new Error(`TEMPORAL_TLS=${tlsFlag}: expected true or false`);
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const config: TLSConfig = {
    ...(crt && key ? { clientCertPair: { crt, key } } : {}),
    ...(ca ? { serverRootCACertificate: ca } : {}),
    ...(serverName ? { serverNameOverride: serverName } : {}),
  };
  const configured = Object.keys(config).length > 0;
  if (tlsFlag === 'false' && (configured || apiKey))
    throw new Error('TEMPORAL_TLS=false contradicts the TLS certificate or API key variables that are set');
  const wantsTls = configured || apiKey !== undefined || tlsFlag === 'true';
  return {
    address: env.TEMPORAL_ADDRESS || defaultAddress,
    ...(wantsTls ? { tls: configured ? config : true } : {}),
    ...(apiKey ? { apiKey } : {}),
  };
}
