import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import {
  type ClientConfigProfile,
  type ConfigDataSource,
  loadClientConfigProfile,
  toClientOptions,
} from '@temporalio/envconfig';
import { ConfigError } from '../core/config.js';

/** What worker, CLI and doctor connect with (Connection.connect / NativeConnection.connect) and to. */
export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** The TLS files a profile names, each with the variables and the temporal.toml key that set it. */
const PEMS = [
  ['clientCert', 'TEMPORAL_TLS_CLIENT_CERT', 'client_cert'],
  ['clientKey', 'TEMPORAL_TLS_CLIENT_KEY', 'client_key'],
  ['serverCACert', 'TEMPORAL_TLS_SERVER_CA_CERT', 'server_ca_cert'],
] as const;

/**
 * The Temporal connection as the Temporal CLI and SDKs configure it (@temporalio/envconfig): the profile
 * TEMPORAL_PROFILE (else "default") of the config file TEMPORAL_CONFIG_FILE (else temporalio/temporal.toml in
 * the user's config directory), overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS and TEMPORAL_TLS_*; `fallback` where neither sets the address or namespace. evolve's own rules
 * on top: an API key is a bearer credential, so it turns TLS on and is refused with TLS disabled; half a
 * client pair, a PEM given both as a path and as data, or an unreadable file is refused by name.
 */
export function temporalConnection(
  fallback: { address: string; namespace: string },
  env: NodeJS.ProcessEnv = process.env,
): TemporalConnectionSettings {
  const vars = variables(env);
  const profile = loadProfile(vars);
  // Which variable, else which key of the file, gave a PEM: the name an error shows.
  const where = (prefix: string, key: string) =>
    [`${prefix}_PATH`, `${prefix}_DATA`].find((name) => vars[name] !== undefined) ??
    `tls.${key} of ${profileName(vars)} in ${configFile(vars)}`;
  const tls = profile.tls && { ...profile.tls };
  for (const [field, prefix, key] of PEMS)
    if (tls?.[field]) tls[field] = { data: pem(tls[field], where(prefix, `${key}_path`)) };
  if ((tls?.clientCert === undefined) !== (tls?.clientKey === undefined))
    throw new ConfigError(
      `${where('TEMPORAL_TLS_CLIENT_CERT', 'client_cert')} and ${where('TEMPORAL_TLS_CLIENT_KEY', 'client_key')}: ` +
        'a client certificate needs both',
    );
  if (profile.apiKey && tls?.disabled)
    throw new ConfigError(
      `${vars.TEMPORAL_TLS !== undefined ? 'TEMPORAL_TLS=false' : `tls.disabled of ${profileName(vars)}`} with an API key: ` +
        'an API key is never sent without TLS',
    );
  const { connectionOptions: options, namespace } = toClientOptions({ ...profile, ...(tls ? { tls } : {}) });
  return {
    address: options.address ?? fallback.address,
    namespace: namespace ?? fallback.namespace,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    ...(profile.grpcMeta ? { metadata: profile.grpcMeta } : {}),
  };
}

/**
 * The TEMPORAL_* variables envconfig reads: an empty one counts as unset, as in a shell's `VAR= evolve ...`
 * (but an empty TEMPORAL_GRPC_META_* removes the profile's header, as envconfig documents).
 */
function variables(env: NodeJS.ProcessEnv): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env))
    if (value !== undefined && (value !== '' || name.startsWith('TEMPORAL_GRPC_META_'))) vars[name] = value;
  const flag = vars.TEMPORAL_TLS?.toLowerCase();
  if (flag !== undefined) {
    // envconfig reads anything but 1/true as false: a typo would silently turn TLS off.
    if (!['true', 'false', '1', '0'].includes(flag))
      throw new ConfigError(`TEMPORAL_TLS=${vars.TEMPORAL_TLS}: expected true or false`);
    vars.TEMPORAL_TLS = flag === 'true' || flag === '1' ? 'true' : 'false';
  }
  for (const [, prefix] of PEMS)
    if (vars[`${prefix}_PATH`] !== undefined && vars[`${prefix}_DATA`] !== undefined)
      throw new ConfigError(`${prefix}_PATH and ${prefix}_DATA: set one of them`);
  return vars;
}

function loadProfile(vars: Record<string, string>): ClientConfigProfile {
  try {
    return loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (err) {
    const message = (err as Error).message;
    if (/^Profile '.*' not found/.test(message))
      throw new ConfigError(
        `TEMPORAL_PROFILE=${vars.TEMPORAL_PROFILE}: no such profile in ${configFile(vars)}`,
      );
    // A TOML syntax error (smol-toml gives its line and column), both a path and data for one PEM, an unreadable file.
    const { line, column } = err as { line?: number; column?: number };
    const at = line === undefined ? '' : `line ${line}, column ${column}: `;
    throw new ConfigError(`${configFile(vars)}: ${at}${message.split('\n')[0]}`);
  }
}

const configFile = (vars: Record<string, string>) =>
  vars.TEMPORAL_CONFIG_FILE !== undefined
    ? `TEMPORAL_CONFIG_FILE=${vars.TEMPORAL_CONFIG_FILE}`
    : 'temporalio/temporal.toml in your config directory';
const profileName = (vars: Record<string, string>) => `profile "${vars.TEMPORAL_PROFILE ?? 'default'}"`;

/** A PEM the profile names by path is read here, so that a missing file is an error naming its source. */
function pem(source: ConfigDataSource, where: string): Uint8Array | string {
  if (!('path' in source)) return source.data;
  try {
    return readFileSync(source.path);
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${source.path}: ${(err as Error).message}`);
  }
}
