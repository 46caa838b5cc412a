/** Request validation shared by both drivers: a zod failure becomes a WeftError naming the fields. */
import type { z } from 'zod';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import { formatIssues } from './protocol.ts';

export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new WeftError(ErrorCodes.VALIDATION, `${what}: request body must be a JSON object, got ${body === null ? 'an empty body or null' : Array.isArray(body) ? 'an array' : typeof body}`);
  }
  const r = schema.safeParse(body);
  if (!r.success) throw new WeftError(ErrorCodes.VALIDATION, `${what}: invalid request: ${formatIssues(r.error)}`);
  return r.data;
}
