/** Which rail set decides a request: the one it names, else the guard's default. */
import type { FastifyRequest } from 'fastify';
import { RailgateError } from '../errors.js';
import type { Guard } from '../matching/guard.js';
import type { RailSet } from '../rails/types.js';

export const RAILS_HEADER = 'x-railgate-rails';

/** The set named by the `x-railgate-rails` header (or `explicit`, e.g. a body field), else the default. */
export function pickRailSetName(request: FastifyRequest, guard: Guard, explicit?: string): string {
  if (explicit) return explicit;
  const header = request.headers[RAILS_HEADER];
  const named = (Array.isArray(header) ? header[0] : header)?.trim();
  return named || guard.defaultRailSet;
}

/** The longest part of an unknown set's name the 404 message repeats (the name is the client's). */
const MAX_ECHOED_NAME = 64;

/** Which rail sets a client may name: the default always; others as `clientRailSets` allows. */
export type RailSetAccess = (name: string, guard: Guard) => boolean;

export function railSetAccess(clientRailSets: readonly string[]): RailSetAccess {
  const any = clientRailSets.includes('*');
  const listed = new Set(clientRailSets);
  return (name, guard) => any || name === guard.defaultRailSet || listed.has(name);
}

/**
 * The loaded set by name, or 404 RG_ERR_UNKNOWN_RAIL_SET naming where the name came from. A set the
 * client may not choose is answered as unknown, and only the sets it may choose are named (so are
 * they in `/v1/models`; `/v1/rails`, for operators, lists all).
 */
export function chooseRailSet(guard: Guard, name: string, param: string, access: RailSetAccess): RailSet {
  const set = access(name, guard) ? guard.railSet(name) : undefined;
  if (set) return set;
  const known =
    guard
      .list()
      .map((s) => s.name)
      .filter((loaded) => access(loaded, guard))
      .join(', ') || 'none';
  // The name is the client's: echo a bounded part of it.
  const shown = name.length > MAX_ECHOED_NAME ? `${name.slice(0, MAX_ECHOED_NAME - 1)}…` : name;
  throw new RailgateError(
    'RG_ERR_UNKNOWN_RAIL_SET',
    `Unknown rail set "${shown}" (a client may choose: ${known}; the operator allows others with clientRailSets).`,
    { param },
  );
}
