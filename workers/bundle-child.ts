/** The child process of bundleWorkflowsApart: bundles workflows/ into the file named by argv[2]. */
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { writeFile } from 'node:fs/promises';
import { workflowsPath } from './bundle.js';

const out = process.argv[2];
if (!out) throw new Error('usage: bundle-child.ts <output file>');
const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
await writeFile(out, code);
