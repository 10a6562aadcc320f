/** The innermost cause of a Temporal failure chain (workflow -> activity -> application failure). */
export function rootCause(err: unknown): Error {
  let current = err as Error & { cause?: unknown };
  while (current?.cause instanceof Error) current = current.cause as Error & { cause?: unknown };
  return current instanceof Error ? current : new Error(String(err));
}
