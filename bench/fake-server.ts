/**
 * Runs the fake OpenAI-compatible server in its own process, so that a benchmark's client and server
 * do not share an event loop. The fault plan is argv[2] as JSON; prints {"baseUrl"} once listening.
 */
import { startFakeOpenAI, type FaultPlan } from '../test/support/fake-openai.js';

const server = await startFakeOpenAI(JSON.parse(process.argv[2] ?? '{}') as FaultPlan);
process.stdout.write(JSON.stringify({ baseUrl: server.baseUrl }) + '\n');
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
