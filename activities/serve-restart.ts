import { ApplicationFailure } from '@temporalio/common';
import { spawn } from 'node:child_process';
import { health, listModels, type VllmReplica } from './serve-vllm.js';
import { childEnv } from '../core/secrets.js';

/** The hook's argv with every "{checkpoint}" replaced by the checkpoint's path. */
export const hookArgv = (command: string[], checkpoint: string): string[] =>
  command.map((arg) => arg.replaceAll('{checkpoint}', checkpoint));

const tail = (text: string, lines = 10) => text.trimEnd().split('\n').slice(-lines).join('\n');

/**
 * Runs the restart hook to its exit. The hook only issues the restart (systemctl restart, kubectl
 * rollout restart, a script that relaunches vLLM in the background); readiness is awaited afterwards.
 * Its exit ends the wait even if a server it launched still holds its output. A missing program is a
 * config error; a non-zero exit or a hook past `timeoutMs` may be transient and is retried.
 */
export function runHook(argv: string[], timeoutMs: number, signal: AbortSignal): Promise<void> {
  const shown = argv.join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
      // A hook is a command from the config: it gets no worker credential (codec key, Temporal).
      env: childEnv(process.env),
    });
    let output = '';
    const collect = (chunk: Buffer) => void (output = (output + chunk.toString('utf8')).slice(-20_000));
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const settle = () => {
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      settle();
      reject(
        err.code === 'ENOENT'
          ? ApplicationFailure.nonRetryable(
              `policy.serve.command: ${argv[0]} not found (${shown})`,
              'ServeRejected',
            )
          : err,
      );
    });
    child.on('exit', (code, killedBy) => {
      const finish = () => {
        settle();
        if (code === 0) return resolve();
        const how = timedOut
          ? `ran past ${timeoutMs} ms`
          : killedBy
            ? `was killed (${killedBy})`
            : `exited ${code}`;
        reject(
          ApplicationFailure.retryable(
            `restart hook \`${shown}\` ${how}; last output:\n${tail(output)}`,
            'ServeHookFailed',
          ),
        );
      };
      // Its last output may still be in the pipes; a server it left running may hold them open.
      const grace = setTimeout(finish, 500);
      child.once('close', () => {
        clearTimeout(grace);
        finish();
      });
    });
  });
}

/** Whether a replica is up and lists `model`; else what it answered, for the error and the heartbeat. */
export async function readiness(replica: VllmReplica, model: string): Promise<string | null> {
  try {
    const up = await health(replica);
    if (up.status !== 200) return `${up.what} answered ${up.status}`;
    const models = await listModels(replica);
    return models.includes(model)
      ? null
      : `${replica.baseUrl}/models lists ${models.join(', ') || 'nothing'}, not ${model}`;
  } catch (err) {
    return (err as Error).message;
  }
}
