import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, bundleWorkflowCode } from '@temporalio/worker';
import type { RunResult } from '../../core/steps.js';
import { searchAttributeFlags } from '../../core/search-attributes.js';
import { createEvolveWorker, workflowsPath } from '../../workers/worker.js';
import { tinyConfig } from '../support/config.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { requireInstalled, temporalCli } from '../support/paths.js';
import { quietRuntime } from '../support/quiet.js';
import { until } from '../support/until.js';

// A production Temporal: the server built from its Go module with PostgreSQL (Debian's) as both stores,
// schemas set up by its SQL tool. The bootstrap installs both (the server build capped in time); the
// test runs where both are there, EVOLVE_PROD_TEMPORAL=1 makes it build the server itself, =0 skips it.
const home = resolve(process.env.EVOLVE_HOME ?? '.evolve', 'temporal-server');
const postgresInstalled = readdirSafe('/usr/lib/postgresql').length > 0;
const serverBuilt = existsSync(join(home, 'server'));
const enabled =
  process.env.EVOLVE_PROD_TEMPORAL === '1' ||
  (process.env.EVOLVE_PROD_TEMPORAL !== '0' && postgresInstalled && serverBuilt);
const skipReason = !postgresInstalled
  ? 'PostgreSQL is not installed (apt-get install postgresql)'
  : 'the Temporal server is not built yet (bash deploy/temporal-server.sh, or EVOLVE_PROD_TEMPORAL=1)';
const run = promisify(execFile);
const timings: Record<string, number> = {};
async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[name] = (Date.now() - t0) / 1000;
  }
}

/**
 * n free ports under 32768: the server stores its membership ports in a PostgreSQL smallint, so the
 * kernel's ephemeral ports (32768 and up) cannot be used.
 */
function readdirSafe(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function freePorts(n: number): Promise<number[]> {
  const free = (port: number) =>
    new Promise<boolean>((done) => {
      const s = createServer()
        .once('error', () => done(false))
        .listen(port, '127.0.0.1', () => s.close(() => done(true)));
    });
  const ports: number[] = [];
  for (let port = 20_000 + (process.pid % 1000) * 10; ports.length < n && port < 32_768; port++)
    if (await free(port)) ports.push(port);
  assert.equal(ports.length, n, 'enough free ports under 32768');
  return ports;
}

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  if (enabled) console.log(`production Temporal timings (s): ${JSON.stringify(timings)}`);
});

/** PostgreSQL from the Debian package, in a private data directory, trusting local connections. */
async function startPostgres(dir: string, port: number): Promise<void> {
  const { stdout } = await run('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1']);
  const bin = stdout.trim();
  assert.ok(bin, 'PostgreSQL is installed (apt-get install postgresql)');
  // PostgreSQL refuses to run as root: as root, run it as the package's postgres user.
  const asPg = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  if (asPg.length) await run('chown', ['postgres', dir]);
  const pg = (args: string[]) => {
    const argv = [...asPg, ...args];
    return run(argv[0]!, argv.slice(1));
  };
  await pg([join(bin, 'initdb'), '-D', join(dir, 'data'), '-U', 'temporal', '--auth=trust', '-E', 'UTF8']);
  const ctl = (action: string) =>
    pg([
      join(bin, 'pg_ctl'),
      '-D',
      join(dir, 'data'),
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      action,
    ]);
  await ctl('start');
  cleanups.push(() => ctl('stop').catch(() => undefined));
}

test(
  'an iteration on the Temporal server with PostgreSQL survives a SIGKILL of the server, each record once',
  {
    skip: !enabled && skipReason,
  },
  async () => {
    quietRuntime();
    await timed('server build (or check)', () =>
      run('bash', ['deploy/temporal-server.sh'], { maxBuffer: 64 << 20 }),
    );
    const work = mkdtempSync(join(tmpdir(), 'evolve-prod-temporal-'));
    // Removed last, once the server and PostgreSQL are down (EVOLVE_KEEP_TEST_ARTIFACTS=1 keeps it).
    cleanups.push(() => {
      if (process.env.EVOLVE_KEEP_TEST_ARTIFACTS !== '1') rmSync(work, { recursive: true, force: true });
    });
    const [pgPort, frontend, history, matching, worker, http, m1, m2, m3, m4, pprof, metrics] =
      await freePorts(12);

    await timed('postgres start', () => startPostgres(work, pgPort!));
    const sqlTool = (db: string, args: string[]) =>
      run(join(home, 'sql'), [
        '--plugin',
        'postgres12',
        '--ep',
        '127.0.0.1',
        '-p',
        String(pgPort),
        '-u',
        'temporal',
        '--db',
        db,
        ...args,
      ]);
    await timed('schema setup', async () => {
      for (const [db, schema] of [
        ['temporal', 'temporal'],
        ['temporal_visibility', 'visibility'],
      ] as const) {
        await sqlTool(db, ['create-database']);
        await sqlTool(db, ['setup-schema', '-v', '0.0']);
        await sqlTool(db, [
          'update-schema',
          '-d',
          join(home, 'schema', 'postgresql', 'v12', schema, 'versioned'),
        ]);
      }
    });

    // The module's PostgreSQL config with every port moved to a free one.
    const root = join(work, 'server');
    mkdirSync(join(root, 'config'), { recursive: true });
    cpSync(join(home, 'config', 'dynamicconfig'), join(root, 'config', 'dynamicconfig'), { recursive: true });
    const ports: Record<string, number> = {
      5432: pgPort!,
      7233: frontend!,
      7234: history!,
      7235: matching!,
      7239: worker!,
      7243: http!,
      6933: m1!,
      6934: m2!,
      6935: m3!,
      6939: m4!,
      7936: pprof!,
      8000: metrics!,
    };
    const config = readFileSync(join(home, 'config', 'development-postgres12.yaml'), 'utf8').replace(
      /\b(5432|7233|7234|7235|7239|7243|6933|6934|6935|6939|7936|8000)\b/g,
      (p) => String(ports[p]),
    );
    writeFileSync(join(root, 'config', 'production.yaml'), config);
    let server: ChildProcess | undefined;
    const serverLog = openSync(join(work, 'server.log'), 'a');
    const address = `127.0.0.1:${frontend}`;
    const cliEnv = { ...process.env, TEMPORAL_ADDRESS: address };
    const healthy = () =>
      run(requireInstalled(temporalCli), ['operator', 'cluster', 'health'], { env: cliEnv }).then(
        () => true,
        () => false,
      );
    const startServer = async () => {
      server = spawn(
        join(home, 'server'),
        ['--root', root, '--config', 'config', '--env', 'production', '--allow-no-auth', 'start'],
        // The config names its dynamic config relative to the working directory, not to --root.
        { cwd: root, stdio: ['ignore', serverLog, serverLog] },
      );
      await until(`the Temporal server (log: ${join(work, 'server.log')})`, healthy, 180_000);
    };
    cleanups.push(() => server?.kill('SIGKILL'));
    await timed('server start', startServer);
    const cli = (args: string[]) => run(temporalCli, args, { env: cliEnv });
    await until('the default namespace', () =>
      cli(['operator', 'namespace', 'create', '--namespace', 'default']).then(
        () => true,
        (e: { stderr?: string }) => /already exists/i.test(e.stderr ?? ''),
      ),
    );
    for (const flag of searchAttributeFlags) {
      const [name, type] = flag.split('=') as [string, string];
      await cli(['operator', 'search-attribute', 'create', '--name', name, '--type', type]);
    }

    const fake = await startFakeOpenAI({ latencyMs: 150 });
    cleanups.push(() => fake.close());
    const artifactRoot = join(work, 'artifacts');
    const runConfig = {
      ...tinyConfig(fake.baseUrl, artifactRoot, 'prod'),
      prompts: [{ kind: 'arithmetic' as const, count: 8, seed: 5, maxOperand: 9 }],
    };
    const connection = await NativeConnection.connect({ address });
    cleanups.push(() => connection.close());
    const workflowBundle = await bundleWorkflowCode({ workflowsPath });
    const evolveWorker = await createEvolveWorker({ connection, taskQueue: 'prod', workflowBundle });
    const running = evolveWorker.run();
    cleanups.push(async () => {
      if (evolveWorker.getState() === 'RUNNING') evolveWorker.shutdown();
      await running;
    });

    const client = async () => new Client({ connection: await Connection.connect({ address }) });
    await (
      await client()
    ).workflow.start('evolveRun', { taskQueue: 'prod', workflowId: 'prod', args: [runConfig] });
    const iter = join(artifactRoot, 'prod', 'iter-1');
    // Kill the server in the middle of the sampling phase: some rows are journaled, not all.
    await until(
      'the first sampled rows',
      () =>
        existsSync(join(iter, 'train', 'sample')) && readdirSync(join(iter, 'train', 'sample')).length > 0,
    );
    server!.kill('SIGKILL');
    await new Promise((done) => server!.once('exit', done));
    assert.equal(await healthy(), false, 'the server is down');
    await timed('server restart', startServer);

    const result = await timed('the run', async () => {
      for (;;) {
        try {
          return (await (await client()).workflow.getHandle('prod').result()) as RunResult;
        } catch (err) {
          if (!/unavailable|connect/i.test(String(err))) throw err;
        }
      }
    });

    // 8 prompts in shards of 4 (tinyConfig): shard-0 and shard-1 in each phase.
    const rows = (dir: string) =>
      [0, 1].flatMap((shard) =>
        readFileSync(join(dir, `shard-${shard}.jsonl`), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
    const sample = rows(join(iter, 'train', 'sample'));
    const refine = rows(join(iter, 'train', 'refine'));
    assert.equal(sample.length, 8 * runConfig.sampling.samples, 'N answers per prompt');
    const keys = [...sample, ...refine].map((g) => `${g.promptId}/${g.chain}/${g.step}`);
    assert.equal(new Set(keys).size, keys.length, 'one record per (prompt, chain, step)');
    assert.equal(rows(join(iter, 'train', 'judge')).length, keys.length, 'every response judged once');
    assert.ok(existsSync(join(result.iterations[0]!.checkpoint, 'config.json')), 'a new checkpoint');
  },
);
