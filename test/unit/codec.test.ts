import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { codecsFromEnv, EncryptionCodec } from '../../codec/encryption.js';
import { createCodecServer } from '../../codec/server.js';
import { ConfigError } from '../../core/config.js';

const secret = { apiKey: 'sk-very-secret-value', rows: [1, 2, 3] };
const plain = () => defaultPayloadConverter.toPayload(secret);

test('the codec round-trips a payload and the ciphertext hides it', async () => {
  const codec = new EncryptionCodec(randomBytes(32));
  const [sealed] = await codec.encode([plain()]);
  const [again] = await codec.encode([plain()]);
  assert.equal(Buffer.from(sealed!.metadata!.encoding!).toString(), 'binary/encrypted');
  assert.ok(!Buffer.from(sealed!.data!).toString('latin1').includes('sk-very-secret-value'));
  assert.notDeepEqual(sealed!.data, again!.data, 'a fresh IV per payload');
  const [opened] = await codec.decode([sealed!]);
  assert.deepEqual(defaultPayloadConverter.fromPayload(opened!), secret);
  // Payloads written before encryption was turned on still decode.
  assert.deepEqual(await codec.decode([plain()]), [plain()]);
});

test('a tampered payload or a different key fails to decode', async () => {
  const codec = new EncryptionCodec(randomBytes(32));
  const [sealed] = await codec.encode([plain()]);
  const data = Buffer.from(sealed!.data!);
  data[20] = data[20]! ^ 1;
  await assert.rejects(codec.decode([{ ...sealed!, data }]), /unable to authenticate data/);
  await assert.rejects(
    new EncryptionCodec(randomBytes(32)).decode([sealed!]),
    /encrypted with key [0-9a-f]{16}, but EVOLVE_CODEC_KEY is key/,
  );
});

test('EVOLVE_CODEC_KEY turns encryption on, and a malformed one is named', () => {
  assert.deepEqual(codecsFromEnv({}), []);
  assert.equal(codecsFromEnv({ EVOLVE_CODEC_KEY: randomBytes(32).toString('base64') }).length, 1);
  for (const bad of ['short', randomBytes(16).toString('base64')]) {
    assert.throws(
      () => codecsFromEnv({ EVOLVE_CODEC_KEY: bad }),
      (err: unknown) =>
        err instanceof ConfigError && /^EVOLVE_CODEC_KEY: expected 32 bytes/.test(err.message),
    );
  }
});

test('the codec server speaks the Temporal codec protocol with CORS for the UI', async () => {
  const codec = new EncryptionCodec(randomBytes(32));
  const ui = 'http://127.0.0.1:8233';
  const token = randomBytes(16).toString('hex');
  const server = createCodecServer([codec], { uiOrigins: [ui], token, encode: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/default`;
  try {
    const preflight = await fetch(`${base}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: ui, 'Access-Control-Request-Headers': 'content-type,x-namespace' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ui);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Namespace/);

    const asJson = (p: ReturnType<typeof plain>) => ({
      metadata: { encoding: Buffer.from(p.metadata!.encoding!).toString('base64') },
      data: Buffer.from(p.data!).toString('base64'),
    });
    const post = (op: string, payloads: unknown, origin = ui) =>
      fetch(`${base}/${op}`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Namespace': 'default',
          Origin: origin,
          Authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ payloads }),
      });
    const encoded = await post('encode', [asJson(plain())]);
    assert.equal(encoded.status, 200);
    const { payloads: sealed } = (await encoded.json()) as { payloads: { data: string }[] };
    assert.ok(!Buffer.from(sealed[0]!.data, 'base64').toString('latin1').includes('sk-very-secret'));

    const decoded = await post('decode', sealed);
    const { payloads } = (await decoded.json()) as { payloads: { data: string }[] };
    assert.deepEqual(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString()), secret);

    const stranger = await post('decode', sealed, 'http://evil.example');
    assert.equal(stranger.status, 403, 'other origins are refused');
    assert.equal(stranger.headers.get('access-control-allow-origin'), null, 'other origins get no CORS');
    const bad = await post('decode', 'nope');
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /body\.payloads: .*expected array/);
    assert.equal((await fetch(`${base}/other`, { method: 'POST', body: '{}' })).status, 404);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('the codec server answers 401 without its token, checks Host, and encodes only when asked', async () => {
  const codec = new EncryptionCodec(randomBytes(32));
  const token = randomBytes(16).toString('hex');
  const ui = 'http://127.0.0.1:8233';
  const sealed = (await codec.encode([plain()])).map((p) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
    ),
    data: Buffer.from(p.data!).toString('base64'),
  }));
  const server = createCodecServer([codec], { uiOrigins: [ui], token });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const decode = (headers: Record<string, string>) =>
    fetch(`${base}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ payloads: sealed }),
    });
  try {
    const anonymous = await decode({});
    assert.equal(anonymous.status, 401);
    assert.ok(!(await anonymous.text()).includes('sk-very-secret'));
    assert.equal((await decode({ authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await decode({ authorization: `Bearer ${token}` })).status, 200);
    // A DNS-rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away.
    const rebound = await new Promise<number>((resolve, reject) =>
      request(`${base}/decode`, { method: 'POST', headers: { host: 'evil.example:8081' } }, (res) =>
        resolve(res.statusCode ?? 0),
      )
        .on('error', reject)
        .end('{"payloads":[]}'),
    );
    assert.equal(rebound, 421);
    // The browser's way in: one visit to the login link leaves a cookie the UI's requests carry.
    assert.equal((await fetch(`${base}/login?token=wrong`)).status, 401);
    const login = await fetch(`${base}/login?token=${token}`);
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly; SameSite=Strict/);
    const withCookie = await decode({ cookie: cookie.split(';')[0]!, origin: ui });
    assert.equal(withCookie.status, 200);
    assert.equal(withCookie.headers.get('access-control-allow-credentials'), 'true');
    const encode = await fetch(`${base}/encode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ payloads: [] }),
    });
    assert.equal(encode.status, 403, '/encode is off unless asked for');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
