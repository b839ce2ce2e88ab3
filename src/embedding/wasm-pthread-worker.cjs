'use strict';
/**
 * The script each wasm thread of the bundled model runs (see wasm-threads.ts).
 *
 * tfjs hands Emscripten its pthread worker script and its main script as `blob:` URLs, which browsers
 * can start workers from and Node cannot. This file stands in for the worker script: it points the
 * main-script URL at tfjs's own file on disk, then runs tfjs's worker script unchanged (its Node
 * branch wires `parentPort`, `importScripts` and friends itself).
 */
const threaded = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd';
const mainScript = require.resolve(`${threaded}.js`);
const { wasmWorkerContents } = require(`${threaded}.worker.js`);

URL.createObjectURL = () => mainScript;
URL.revokeObjectURL = () => {};
// tfjs escapes newlines the same way before turning this text into a Blob: the script is one line
// whose string literals contain "\n" escapes that its template literal turned into real newlines.
new Function('require', '__filename', wasmWorkerContents.replace(/\n/g, '\\n'))(require, __filename);
