import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { temporalConnection } from '../../workers/connection.js';

const dir = mkdtempSync(join(tmpdir(), 'evolve-tls-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

test('temporalConnection: plain address by default, TEMPORAL_ADDRESS over the default', () => {
  assert.deepEqual(temporalConnection({}, '127.0.0.1:7299'), { address: '127.0.0.1:7299' });
  assert.deepEqual(temporalConnection({ TEMPORAL_ADDRESS: 'temporal:7233' }), { address: 'temporal:7233' });
});

test('temporalConnection: mTLS reads the certificate files; an API key turns TLS on', () => {
  const env = {
    TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
    TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem', 'CERT'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: file('client.key', 'KEY'),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca.pem', 'CA'),
    TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
  };
  const mtls = temporalConnection(env);
  assert.deepEqual(mtls.tls, {
    clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
    serverRootCACertificate: Buffer.from('CA'),
    serverNameOverride: 'temporal.internal',
  });
  assert.equal(mtls.apiKey, undefined);
  const cloud = temporalConnection({
    TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233',
    TEMPORAL_API_KEY: 'k',
  });
  assert.deepEqual(cloud, { address: 'us-east-1.aws.api.temporal.io:7233', tls: true, apiKey: 'k' });
  assert.deepEqual(temporalConnection({ TEMPORAL_TLS: 'true' }).tls, true);
});

test('temporalConnection: bad settings name the variable', () => {
  assert.throws(
    () =>
      temporalConnection({
        TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'missing.pem'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: file('k', 'K'),
      }),
    /^Error: TEMPORAL_TLS_CLIENT_CERT_PATH=.*missing\.pem: cannot read it \(ENOENT\)$/,
  );
  assert.throws(
    () => temporalConnection({ TEMPORAL_TLS_CLIENT_CERT_PATH: file('c', 'C') }),
    /TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH: set both/,
  );
  assert.throws(
    () => temporalConnection({ TEMPORAL_TLS: 'yes' }),
    /TEMPORAL_TLS=yes: expected true or false/,
  );
  assert.throws(
    () => temporalConnection({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }),
    /TEMPORAL_TLS=false contradicts/,
  );
});
