import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A span as OTLP/JSON carries it (only the fields the tests read). */
export interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

interface ExportRequest {
  resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

/**
 * An OTLP/HTTP trace receiver, as a collector is to an exporter: it takes `POST /v1/traces` with a JSON
 * body and keeps each body as it came; `url` is what OTEL_EXPORTER_OTLP_ENDPOINT names.
 */
export async function startOtlpReceiver() {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    if (
      req.method !== 'POST' ||
      req.url !== '/v1/traces' ||
      req.headers['content-type'] !== 'application/json'
    ) {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Every request body received, raw. */
    bodies,
    spans: (): OtlpSpan[] =>
      bodies.flatMap((body) =>
        ((JSON.parse(body) as ExportRequest).resourceSpans ?? []).flatMap((r) =>
          (r.scopeSpans ?? []).flatMap((s) => s.spans ?? []),
        ),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
