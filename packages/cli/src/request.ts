import type { DecisionRequest } from '@posture/core';

/** Reads one request object (from `posture eval` or `posture explain`); returns an error text or the request. */
export function parseRequest(
  value: unknown,
): { request: DecisionRequest; time?: number } | { error: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { error: 'a request is a JSON object' };
  const input = value as Record<string, unknown>;
  for (const key of ['agent', 'tool'] as const) {
    if (typeof input[key] !== 'string') return { error: `\`${key}\` must be a string` };
  }
  for (const key of ['user', 'session'] as const) {
    if (input[key] !== undefined && typeof input[key] !== 'string')
      return { error: `\`${key}\` must be a string` };
  }
  if (
    input.args !== undefined &&
    (input.args === null || typeof input.args !== 'object' || Array.isArray(input.args))
  ) {
    return { error: '`args` must be an object' };
  }
  if (
    input.labels !== undefined &&
    !(Array.isArray(input.labels) && input.labels.every((l) => typeof l === 'string'))
  ) {
    return { error: '`labels` must be a list of strings' };
  }
  if (input.approval !== undefined && (input.approval === null || typeof input.approval !== 'object')) {
    return { error: '`approval` must be an object such as `{"id": "…"}`' };
  }
  if (input.confirmed !== undefined && typeof input.confirmed !== 'boolean') {
    return { error: '`confirmed` must be true or false' };
  }
  let time: number | undefined;
  if (input.time !== undefined) {
    time =
      typeof input.time === 'number'
        ? input.time
        : typeof input.time === 'string'
          ? Date.parse(input.time)
          : NaN;
    if (!Number.isFinite(time))
      return { error: '`time` must be milliseconds since the epoch or an ISO 8601 date' };
  }
  // The checked object itself is the request: copying it would cost more than deciding.
  const request = input as unknown as DecisionRequest;
  return time === undefined ? { request } : { request, time };
}
