/**
 * tfjs, required rather than imported. Its packages are CommonJS files of several megabytes, which
 * Node's ESM loader first scans for their exports (cjs-module-lexer) and for module syntax: ~150 ms
 * more per model worker on an idle core, about half the worker's start-up CPU on a busy one.
 */
import { createRequire } from 'node:module';
import type * as TfBackendWasm from '@tensorflow/tfjs-backend-wasm';
import type * as TfConverter from '@tensorflow/tfjs-converter';
import type * as TfCore from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

export const tf = require('@tensorflow/tfjs-core') as typeof TfCore;
export const tfWasm = require('@tensorflow/tfjs-backend-wasm') as typeof TfBackendWasm;
export const tfConverter = require('@tensorflow/tfjs-converter') as typeof TfConverter;
