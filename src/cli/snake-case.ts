/**
 * The CLI's JSON output in one convention: snake_case keys, as the HTTP API (`railgate` object) and
 * the authoring commands' reports use, so a script reads a decision the same way from every source.
 * Internal records (Decision, the decision log's rows) are camelCase TypeScript; they are converted
 * here, at the edge. Only plain objects' keys change; strings, numbers and arrays are kept.
 */
const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

export function snakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseKeys);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [snake(key), snakeCaseKeys(inner)]));
}
