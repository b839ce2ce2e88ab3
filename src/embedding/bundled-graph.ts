/**
 * The bundled model's graph, made runnable by tfjs's synchronous executor.
 *
 * USE lite's graph has two `Where` ops: which token positions fit its 128-token window, and where the
 * real tokens lie in the padded batch. Their outputs' sizes depend on the data, so tfjs runs the whole
 * graph (317 nodes) through its asynchronous executor, which costs ~1 ms more per model call here.
 * Both are known from the token counts before the call: the two ops become graph inputs that
 * `tokenPositions` computes, the nodes only they used are dropped, and `GraphModel.execute` runs the
 * rest. The vectors are the same to the bit (test/embedding/bundled.test.ts compares the two graphs).
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from './tfjs.js';

const ENCODER = 'module_apply_default/Encoder_en/KonaTransformer/';
/** The positions of the sparse input that fit the window: `[n, 1]`, indices into `values`. */
const IN_WINDOW = `${ENCODER}ClipToMaxLength/Where`;
/** The (row, column) of every real token in the padded batch, in row-major order: `[n, 2]`. */
const REAL_TOKENS = `${ENCODER}Encode/TransformerStack/Layer_1/TransformerLayer/FFN/StoreMask/Where`;
/** The window's length, a constant of the graph (128). */
const WINDOW = `${ENCODER}ClipToMaxLength/Less/y`;

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

/** The node a graph input like `name:1` or `^name` refers to. */
function nodeOf(input: string): string {
  return input.replace(/^\^/, '').replace(/:\d+$/, '');
}

/**
 * The topology with the two `Where` ops as int32 inputs and only the nodes the outputs need; undefined
 * when the graph is not the one this was written for (then the model runs as it came, asynchronously).
 */
export function withTokenInputs(topology: { node?: GraphNode[] }): { node: GraphNode[] } | undefined {
  const nodes = topology.node ?? [];
  const byName = new Map(nodes.map((node) => [node.name, node]));
  if (
    byName.get(IN_WINDOW)?.op !== 'Where' ||
    byName.get(REAL_TOKENS)?.op !== 'Where' ||
    byName.get(WINDOW)?.op !== 'Const' ||
    nodes.filter((node) => node.op === 'Where').length !== 2
  )
    return undefined;
  const consumed = new Set(nodes.flatMap((node) => (node.input ?? []).map(nodeOf)));
  const outputs = nodes.filter((node) => !consumed.has(node.name)).map((node) => node.name);
  const rewritten = nodes.map((node) =>
    node.name === IN_WINDOW || node.name === REAL_TOKENS
      ? { name: node.name, op: 'Placeholder', input: [], attr: { dtype: { type: 'DT_INT32' } } }
      : node,
  );
  // Keep what the original outputs reach: the ops that only fed the two `Where`s would otherwise become
  // outputs of their own.
  const rewrittenByName = new Map(rewritten.map((node) => [node.name, node]));
  const needed = new Set<string>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    needed.add(name);
    stack.push(...(rewrittenByName.get(name)?.input ?? []).map(nodeOf));
  }
  return { ...topology, node: rewritten.filter((node) => needed.has(node.name)) };
}

/** The graph's window length, read from its weights. */
export function windowLength(weights: Record<string, Tensor[]>): number {
  const constant = weights[WINDOW]?.[0];
  if (!constant) throw new Error(`the bundled model has no ${WINDOW}`);
  return (constant.dataSync() as Int32Array)[0]!;
}

/**
 * The two inputs that replace the `Where` ops, for rows of token ids already cut to the window (every
 * row at least one token): every sparse position is in the window, and the real tokens are each row's
 * first `length` columns.
 */
export function tokenPositions(rows: readonly (readonly number[])[]): Record<string, Tensor> {
  const count = rows.reduce((n, row) => n + row.length, 0);
  const inWindow = new Int32Array(count);
  const realTokens = new Int32Array(count * 2);
  let at = 0;
  rows.forEach((row, r) => {
    for (let column = 0; column < row.length; column++, at++) {
      inWindow[at] = at;
      realTokens[at * 2] = r;
      realTokens[at * 2 + 1] = column;
    }
  });
  return {
    [IN_WINDOW]: tf.tensor2d(inWindow, [count, 1], 'int32'),
    [REAL_TOKENS]: tf.tensor2d(realTokens, [count, 2], 'int32'),
  };
}
