/**
 * Runs the fake OpenAI-compatible server in its own process, so that a benchmark's client and server
 * do not share an event loop. The fault plan is argv[2] as JSON. With `batching`, it serves
 * `batching.replicas` servers sharing one simulated fleet (one clock, so the fleet's slot use is
 * measured on one timeline). Prints {"baseUrls"} once listening.
 */
import { FleetClock, startFakeOpenAI, type FaultPlan } from '../test/support/fake-openai.js';

const plan = JSON.parse(process.argv[2] ?? '{}') as FaultPlan;
const clock = plan.batching && new FleetClock(plan.batching);
const servers = await Promise.all(
  Array.from({ length: plan.batching?.replicas ?? 1 }, (_, index) =>
    startFakeOpenAI(plan, clock && { clock, index }),
  ),
);
process.stdout.write(JSON.stringify({ baseUrls: servers.map((s) => s.baseUrl) }) + '\n');
process.on('SIGTERM', () => void Promise.all(servers.map((s) => s.close())).then(() => process.exit(0)));
