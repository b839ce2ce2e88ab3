/**
 * The guard may still be loading (model, rail indexes) when the server starts listening: /healthz
 * answers at once, /readyz and the decision routes answer 503 RG_ERR_NOT_READY until it resolves.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { clientMessage, isRailgateError, LoadCancelled, RailgateError } from '../../errors.js';
import type { Guard } from '../../matching/guard.js';
import { RailsInvalidError } from '../../rails/issues.js';

export class GuardGate {
  #guard: Guard | null = null;
  #failure: Error | null = null;

  constructor(source: Guard | Promise<Guard>, onFailure: (error: unknown) => void) {
    if (!(source instanceof Promise)) {
      this.#guard = source;
      return;
    }
    source.then(
      (guard) => {
        this.#guard = guard;
      },
      (error: unknown) => {
        this.#failure = error instanceof Error ? error : new Error(String(error));
        onFailure(error);
      },
    );
  }

  /** The guard once loaded, else null. */
  get current(): Guard | null {
    return this.#guard;
  }

  /** The guard, or a 503 saying why there is none yet. */
  require(): Guard {
    if (this.#guard) return this.#guard;
    const failure = this.#failure;
    // The failure's own full stop would double the sentence's.
    const cause = failure && (isRailgateError(failure) ? clientMessage(failure) : failure.message).replace(/\.+$/, '');
    const why = failure ? `loading rails failed${cause ? `: ${cause}` : ''}` : 'rails and model are still loading';
    throw new RailgateError('RG_ERR_NOT_READY', `railgate is not ready: ${why}.`);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    guardGate: GuardGate;
  }
}

export const guardGatePlugin = fp(
  async (app: FastifyInstance, options: { guard: Guard | Promise<Guard> }) => {
    app.decorate(
      'guardGate',
      new GuardGate(options.guard, (error) =>
        error instanceof LoadCancelled
          ? app.log.info('loading stopped: railgate is closing')
          : error instanceof RailsInvalidError
            ? // The rail author's mistakes, each with its file:line:column: no stack trace to read past.
              app.log.error({ code: error.code, issues: error.issues }, `railgate failed to load: ${error.message}`)
            : app.log.error({ err: error }, 'railgate failed to load its guard'),
      ),
    );
  },
  { name: 'railgate-guard-gate', fastify: '5.x' },
);
