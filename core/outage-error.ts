/** A server that did not answer, or answered 5xx/408/409: worth waiting for. */
export class OutageError extends Error {
  override name = 'OutageError';
}
