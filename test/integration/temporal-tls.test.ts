import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createServer as createTlsServer, type Server } from 'node:tls';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporalConnection, type TemporalConnectionSettings } from '../../client/temporal-connection.js';
import { startDevServer } from '../support/dev-server.js';

// `temporal server start-dev` has no TLS flags: a TLS terminator (node:tls, mTLS required) stands in
// front of the real dev server, as a load balancer or Temporal Cloud's front end would.
const dir = mkdtempSync(join(tmpdir(), 'evolve-tls-'));
const openssl = (args: string) => execFileSync('openssl', args.split(' '), { cwd: dir, stdio: 'pipe' });
function makeCertificates(): void {
  openssl('req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=evolve-test-ca -keyout ca.key -out ca.pem');
  // Extensions make them X.509 v3 certificates, which rustls (the worker's connection) requires.
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:temporal.test\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const name of ['server', 'client']) {
    openssl(`req -newkey rsa:2048 -nodes -subj /CN=${name} -keyout ${name}.key -out ${name}.csr`);
    openssl(
      `x509 -req -in ${name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out ${name}.pem -extfile ${name}.ext`,
    );
  }
}

let env: TestWorkflowEnvironment;
let proxy: Server;
let address: string;
before(async () => {
  makeCertificates();
  env = await startDevServer();
  const [host, port] = env.address.split(':');
  const file = (name: string) => readFileSync(join(dir, name));
  proxy = createTlsServer(
    {
      key: file('server.key'),
      cert: file('server.pem'),
      ca: file('ca.pem'),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      const upstream = connect(Number(port), host);
      socket.pipe(upstream).pipe(socket);
      const close = () => (socket.destroy(), upstream.destroy());
      socket.on('error', close);
      upstream.on('error', close);
    },
  );
  proxy.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
after(async () => {
  proxy?.close();
  await env?.teardown();
});

const local = { address: '127.0.0.1:7233', namespace: 'default' };
const tlsEnv = (extra: Record<string, string> = {}) => ({
  TEMPORAL_ADDRESS: address,
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.pem'),
  TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'),
  TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
  TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
  ...extra,
});

test('CLI and worker connect over mTLS from the Temporal CLI variables', async () => {
  const options = temporalConnection(local, tlsEnv());
  assert.equal(options.address, address);
  await reachesServer(options);
});

/** Both clients (the CLI's Connection, the worker's NativeConnection) reach the dev server through TLS. */
async function reachesServer(settings: TemporalConnectionSettings): Promise<void> {
  const { namespace, ...options } = settings;
  const client = await Connection.connect({ ...options, connectTimeout: 10_000 });
  try {
    await client.workflowService.describeNamespace({ namespace });
  } finally {
    await client.close();
  }
  const worker = await NativeConnection.connect(options);
  await worker.close();
}

test('a Temporal CLI profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) connects; the variables override it', async () => {
  const file = join(dir, 'temporal.toml');
  writeFileSync(
    file,
    [
      '[profile.default]',
      'address = "127.0.0.1:1"',
      '[profile.evolve]',
      `address = "${address}"`,
      'namespace = "default"',
      '[profile.evolve.tls]',
      `server_ca_cert_path = "${join(dir, 'ca.pem')}"`,
      `client_cert_path = "${join(dir, 'client.pem')}"`,
      `client_key_path = "${join(dir, 'client.key')}"`,
      'server_name = "temporal.test"',
      '[profile.elsewhere]',
      'namespace = "evolve-prod"',
      'api_key = "profile-key"',
      '[profile.elsewhere.tls]',
      'disabled = true',
      '',
    ].join('\n'),
  );
  const profile = temporalConnection(local, { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'evolve' });
  assert.equal(profile.address, address);
  await reachesServer(profile);
  // Without TEMPORAL_PROFILE, the file's "default" profile; TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE win over it.
  assert.deepEqual(temporalConnection(local, { TEMPORAL_CONFIG_FILE: file }), {
    address: '127.0.0.1:1',
    namespace: 'default',
  });
  const overridden = temporalConnection(local, {
    TEMPORAL_CONFIG_FILE: file,
    TEMPORAL_ADDRESS: 'temporal.internal:7233',
    TEMPORAL_NAMESPACE: 'evolve-staging',
  });
  assert.deepEqual(overridden, { address: 'temporal.internal:7233', namespace: 'evolve-staging' });
  // evolve's rule holds for a profile too: its API key is never sent with its TLS disabled.
  assert.throws(
    () => temporalConnection(local, { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'elsewhere' }),
    (err: Error) =>
      err.name === 'ConfigError' &&
      /tls\.disabled of profile "elsewhere" .*never sent without TLS/.test(err.message),
  );
  assert.throws(
    () => temporalConnection(local, { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'nope' }),
    /TEMPORAL_PROFILE=nope: no such profile in TEMPORAL_CONFIG_FILE=.*temporal\.toml/,
  );
  const broken = join(dir, 'broken.toml');
  writeFileSync(broken, '[profile.default]\naddress = \n');
  assert.throws(
    () => temporalConnection(local, { TEMPORAL_CONFIG_FILE: broken }),
    (err: Error) =>
      err.name === 'ConfigError' && /TEMPORAL_CONFIG_FILE=.*broken\.toml: .*line 2/.test(err.message),
  );
});

test('without the client certificate, or without TLS, the server is not reached', async () => {
  const noCert = temporalConnection(local, {
    ...tlsEnv(),
    TEMPORAL_TLS_CLIENT_CERT_PATH: '',
    TEMPORAL_TLS_CLIENT_KEY_PATH: '',
  });
  await assert.rejects(async () => {
    const c = await Connection.connect({ ...noCert, connectTimeout: 3000 });
    await c.workflowService.getSystemInfo({});
  });
  const plain = temporalConnection(local, { TEMPORAL_ADDRESS: address });
  assert.equal(plain.tls, undefined);
  await assert.rejects(async () => {
    const c = await Connection.connect({ ...plain, connectTimeout: 3000 });
    await c.workflowService.getSystemInfo({});
  });
});

test('the settings: an API key turns TLS on and is never sent in the clear; half a client pair is refused', () => {
  const cloud = temporalConnection(local, {
    TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
    TEMPORAL_API_KEY: 'k',
  });
  assert.deepEqual(cloud, {
    address: 'ns.acct.tmprl.cloud:7233',
    namespace: 'default',
    tls: true,
    apiKey: 'k',
  });
  assert.throws(
    () => temporalConnection(local, { TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }),
    /never sent without TLS/,
  );
  assert.throws(
    () => temporalConnection(local, { TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem') }),
    /needs both/,
  );
  assert.throws(
    () => temporalConnection(local, { TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'missing.pem') }),
    /TEMPORAL_TLS_SERVER_CA_CERT_PATH: cannot read .*missing\.pem/,
  );
  assert.deepEqual(temporalConnection(local, {}), local);
});
