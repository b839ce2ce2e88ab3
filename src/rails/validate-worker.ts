/** Worker entry: validates the rails folder it is given and posts the sets and issues back. */
import { parentPort, workerData } from 'node:worker_threads';
import { validateRails } from './load.js';
import type { LoadOptions } from './merge.js';

const { root, options } = workerData as { root: string; options: LoadOptions };
// A throw (a folder that became unreadable) reaches the parent as the worker's 'error' event.
parentPort!.postMessage(await validateRails(root, options));
