/** The bad-input table's Temporal connection rows (test/unit/bad-input.test.ts): variables and temporal.toml. */
import { join } from 'node:path';
import { temporalConnection } from '../../client/temporal-connection.js';
import { dir, file, type Row } from './bad-input.js';

const local = { address: '127.0.0.1:7233', namespace: 'default' };
const pem = file('-----BEGIN CERTIFICATE-----\n', 'pem');
const toml = (text: string) => file(text, 'toml');

export const rows: Row[] = (
  [
    [
      'TEMPORAL_TLS=maybe',
      { TEMPORAL_TLS: 'maybe' },
      /^TEMPORAL_TLS=maybe: expected true or false$/,
      'value',
    ],
    [
      'an API key with TLS off',
      { TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' },
      /^TEMPORAL_TLS=false with an API key: an API key is never sent without TLS$/,
      'value',
    ],
    [
      'a PEM as a path and as data',
      { TEMPORAL_TLS_CLIENT_CERT_PATH: pem, TEMPORAL_TLS_CLIENT_CERT_DATA: 'x' },
      /^TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_CERT_DATA: set one of them$/,
      'value',
    ],
    [
      'a client certificate without its key',
      { TEMPORAL_TLS_CLIENT_CERT_PATH: pem },
      /^TEMPORAL_TLS_CLIENT_CERT_PATH and tls\.client_key of profile "default" .*: a client certificate needs both$/,
      'value',
    ],
    [
      'a CA file that is not there',
      { TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'missing.pem') },
      /^TEMPORAL_TLS_SERVER_CA_CERT_PATH: cannot read .*missing\.pem/,
      'file',
    ],
    [
      'a profile that is not in the file',
      { TEMPORAL_CONFIG_FILE: toml('[profile.default]\naddress = "a:1"\n'), TEMPORAL_PROFILE: 'nope' },
      /^TEMPORAL_PROFILE=nope: no such profile in TEMPORAL_CONFIG_FILE=.*\.toml$/,
      'value',
    ],
    [
      'temporal.toml that is not TOML',
      { TEMPORAL_CONFIG_FILE: toml('[profile.default]\naddress = \n') },
      /^TEMPORAL_CONFIG_FILE=.*\.toml: line 2, column \d+: /,
      'file:line',
    ],
    [
      'a profile whose API key has TLS disabled',
      {
        TEMPORAL_CONFIG_FILE: toml(
          '[profile.default]\napi_key = "k"\n[profile.default.tls]\ndisabled = true\n',
        ),
      },
      /^tls\.disabled of profile "default" with an API key: an API key is never sent without TLS$/,
      'key path',
    ],
    [
      "a profile's client key file that is not there",
      {
        TEMPORAL_CONFIG_FILE: toml(
          `[profile.default.tls]\nclient_cert_path = "${pem}"\nclient_key_path = "${join(dir, 'missing.key')}"\n`,
        ),
      },
      /^tls\.client_key_path of profile "default" in TEMPORAL_CONFIG_FILE=.*\.toml: cannot read .*missing\.key/,
      'key path',
    ],
  ] as const
).map(([input, env, expect, names]) => ({
  area: 'temporal connection',
  input,
  run: () => temporalConnection(local, env),
  expect,
  names,
}));
