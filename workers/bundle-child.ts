/**
 * The child process of bundleWorkflowsApart: bundles workflows/ into the file named by argv[2], with the
 * tracing interceptors when argv[3] is --traced.
 */
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { writeFile } from 'node:fs/promises';
import { workflowsPath } from './bundle.js';
import { tracingWorkflowModules } from './tracing.js';

const [out, traced] = process.argv.slice(2);
if (!out || (traced !== undefined && traced !== '--traced'))
  throw new Error('usage: bundle-child.ts <output file> [--traced]');
const { code } = await bundleWorkflowCode({
  workflowsPath,
  workflowInterceptorModules: traced ? tracingWorkflowModules : [],
  logger: new DefaultLogger('WARN'),
});
await writeFile(out, code);
