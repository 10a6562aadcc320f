import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec } from '../../codec/encryption.js';
import { createCodecServer, MAX_CODEC_BODY_BYTES } from '../../codec/server.js';

/** Sends raw bytes (what an HTTP client would refuse to send) and returns the status line's code, or 0. */
function raw(port: number, bytes: Buffer | string, endAfterWrite = true): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0));
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (/\r\n\r\n/.test(reply)) socket.destroy();
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.write(bytes, () => {
      if (endAfterWrite) socket.end();
    });
  });
}

/** A reproducible stream of numbers in [0, 1). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const request = (line: string, headers: string[], body = '') =>
  [
    line,
    'Host: 127.0.0.1',
    'Connection: close',
    ...headers,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');

test('the codec server answers 1,000+ malformed requests with 4xx, stays up, and then decodes a good one', async () => {
  const codec = new EncryptionCodec(randomBytes(32));
  const token = randomBytes(16).toString('hex');
  const server = createCodecServer([codec], { uiOrigins: ['http://127.0.0.1:8233'], token });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const random = seeded(29);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const auth = `Authorization: Bearer ${token}`;
  // Each kind makes a malformed request from the random stream: cookie, request target, headers, body.
  const kinds: (() => string | Buffer)[] = [
    () =>
      request('POST /decode HTTP/1.1', [
        `Cookie: evolve_codec_token=${pick(['%E0%A4%ZZ', '%', '%FF', '%C0%80', '%%%', `%${junk(1).toString('hex')}%Z`])}`,
      ]),
    () =>
      request(
        `GET ${pick(['http://[', 'http://[::', '//[', 'http://a:b@[x]/', 'http://%zz', 'a://[1'])} HTTP/1.1`,
        [],
      ),
    () => request(`POST /${encodeURIComponent(junk(8).toString('latin1'))}%/decode HTTP/1.1`, [auth]),
    () =>
      Buffer.concat([
        Buffer.from('POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: '),
        junk(16),
        Buffer.from('\r\n\r\n'),
      ]),
    () => `${junk(12).toString('latin1')} / HTTP/1.1\r\n\r\n`,
    () =>
      `GET /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000 + Math.floor(random() * 50_000))}\r\n\r\n`,
    () =>
      request('POST /decode HTTP/1.1', [`Authorization: ${pick(['Bearer', 'Bearer ', 'Basic %%', '\t'])}`]),
    () =>
      request(
        'POST /decode HTTP/1.1',
        [auth],
        pick(['', 'null', '[', '{"payloads":', '"x"', junk(32).toString('latin1')]),
      ),
    () =>
      request(
        'POST /decode HTTP/1.1',
        [auth],
        pick([
          '{"payloads":[null]}',
          '{"payloads":[{"metadata":5}]}',
          '{"payloads":[{"data":{}}]}',
          '{"payloads":{}}',
          '{"payloads":[{"metadata":{"encoding":"YmluYXJ5L2VuY3J5cHRlZA=="},"data":"AAAA"}]}',
        ]),
      ),
    () =>
      `POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${junk(4).toString('latin1')}\r\n0\r\n\r\n`,
    () => `POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello`,
    () => request('POST /decode HTTP/1.1', [auth, `Host: ${junk(6).toString('hex')}`]),
  ];
  const statuses: number[] = [];
  try {
    for (let round = 0; round < 100; round++)
      statuses.push(...(await Promise.all(kinds.map((make) => raw(port, make())))));
    assert.ok(statuses.length >= 1000, `${statuses.length} requests`);
    const bad = statuses.map((s, i) => [s, i % kinds.length]).filter(([s]) => s! < 400 || s! > 499);
    assert.deepEqual(bad, [], `every malformed request gets a 4xx (${statuses.length} sent)`);

    // A body over the cap is refused as it arrives, with 413, whatever length it claims.
    const claimed = await raw(
      port,
      request('POST /decode HTTP/1.1', [auth]).replace(/Content-Length: 0/, `Content-Length: ${100 << 20}`),
      false,
    );
    assert.equal(claimed, 413);
    const streamed = await new Promise<number>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let reply = '';
      socket.on('data', (c) => void (reply += c.toString('latin1')));
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0)));
      socket.on('error', () => undefined);
      socket.write(
        `POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const chunk = Buffer.alloc(1 << 20, 'a');
      const frame = Buffer.concat([
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from('\r\n'),
      ]);
      let sent = 0;
      const pump = () => {
        while (sent <= MAX_CODEC_BODY_BYTES + (4 << 20) && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(frame)) return void socket.once('drain', pump);
        }
      };
      pump();
    });
    assert.equal(streamed, 413);

    // Still up: a good request decodes.
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload({ ok: true })]);
    const payload = {
      metadata: Object.fromEntries(
        Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
      ),
      data: Buffer.from(sealed!.data!).toString('base64'),
    };
    const good = await fetch(`http://127.0.0.1:${port}/decode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ payloads: [payload] }),
    });
    assert.equal(good.status, 200);
    const [opened] = ((await good.json()) as { payloads: { data: string }[] }).payloads;
    assert.deepEqual(JSON.parse(Buffer.from(opened!.data, 'base64').toString()), { ok: true });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
