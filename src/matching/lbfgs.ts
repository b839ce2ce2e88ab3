/**
 * Limited-memory BFGS minimisation of a smooth function (Nocedal & Wright, Numerical Optimization,
 * algorithm 7.4, with a backtracking Armijo line search). Used to fit a rail set's intent classifier
 * at load; small and dependency-free because nothing on npm that is maintained does just this.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** Writes the gradient at `x` into `gradient` and returns the function value. */
export type Objective = (x: Float64Array, gradient: Float64Array) => number;

export interface MinimizeOptions {
  readonly maxIterations?: number;
  /** Remembered (step, gradient change) pairs. */
  readonly memory?: number;
  /** Stop when the gradient's largest component falls below this. */
  readonly gradientTolerance?: number;
  /** Stop when an iteration improves the value by less than this, relative to it. */
  readonly relativeTolerance?: number;
}

export interface MinimizeResult {
  readonly x: Float64Array;
  readonly value: number;
  readonly iterations: number;
  readonly converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function maxAbs(a: Float64Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]!));
  return max;
}

/**
 * Minimises `objective` from `x0`. Yields to the event loop between iterations, so fitting at a hot
 * reload never stalls the requests being served meanwhile.
 */
export async function minimize(
  objective: Objective,
  x0: Float64Array,
  options: MinimizeOptions = {},
): Promise<MinimizeResult> {
  const { maxIterations = 200, memory = 7, gradientTolerance = 1e-6, relativeTolerance = 1e-9 } = options;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let gradient = new Float64Array(n);
  let value = objective(x, gradient);
  const steps: Float64Array[] = [];
  const changes: Float64Array[] = [];
  const rhos: number[] = [];
  const direction = new Float64Array(n);
  const alphas = new Float64Array(memory);
  let candidate = new Float64Array(n);
  let candidateGradient = new Float64Array(n);

  for (let iteration = 0; iteration < maxIterations; iteration++) {
    if (maxAbs(gradient) < gradientTolerance) return { x, value, iterations: iteration, converged: true };

    // Two-loop recursion: direction = −H·gradient from the remembered pairs.
    direction.set(gradient);
    for (let i = steps.length - 1; i >= 0; i--) {
      const alpha = rhos[i]! * dot(steps[i]!, direction);
      alphas[i] = alpha;
      const change = changes[i]!;
      for (let j = 0; j < n; j++) direction[j]! -= alpha * change[j]!;
    }
    const last = steps.length - 1;
    const scale = last >= 0 ? dot(steps[last]!, changes[last]!) / dot(changes[last]!, changes[last]!) : 1;
    for (let j = 0; j < n; j++) direction[j]! *= scale;
    for (let i = 0; i < steps.length; i++) {
      const factor = alphas[i]! - rhos[i]! * dot(changes[i]!, direction);
      const step = steps[i]!;
      for (let j = 0; j < n; j++) direction[j]! += factor * step[j]!;
    }
    for (let j = 0; j < n; j++) direction[j] = -direction[j]!;

    let slope = dot(gradient, direction);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      steps.length = changes.length = rhos.length = 0;
      for (let j = 0; j < n; j++) direction[j] = -gradient[j]!;
      slope = dot(gradient, direction);
    }
    // The first step has no curvature to go by: keep it short.
    let stepSize = steps.length === 0 ? Math.min(1, 1 / maxAbs(gradient)) : 1;
    let next = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let j = 0; j < n; j++) candidate[j] = x[j]! + stepSize * direction[j]!;
      next = objective(candidate, candidateGradient);
      if (next <= value + 1e-4 * stepSize * slope) break;
      stepSize /= 2;
    }
    if (!(next < value)) return { x, value, iterations: iteration, converged: true };

    const step = new Float64Array(n);
    const change = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      step[j] = candidate[j]! - x[j]!;
      change[j] = candidateGradient[j]! - gradient[j]!;
    }
    const curvature = dot(step, change);
    // Only pairs with positive curvature keep the inverse-Hessian estimate positive definite.
    if (curvature > 1e-12) {
      steps.push(step);
      changes.push(change);
      rhos.push(1 / curvature);
      if (steps.length > memory) {
        steps.shift();
        changes.shift();
        rhos.shift();
      }
    }
    const improvement = value - next;
    [x, candidate] = [candidate, x];
    [gradient, candidateGradient] = [candidateGradient, gradient];
    value = next;
    if (improvement <= relativeTolerance * Math.max(1, Math.abs(value)))
      return { x, value, iterations: iteration + 1, converged: true };
    await yieldToEventLoop();
  }
  return { x, value, iterations: maxIterations, converged: false };
}
