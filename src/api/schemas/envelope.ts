/** The `apiVersion`/`kind`/`metadata`/`spec` envelope every v3 resource shares. */
import { z } from 'zod';
import { API_VERSION } from '../kinds.ts';

export function envelope<K extends string, M extends z.ZodType, S extends z.ZodType>(kind: K, metadata: M, spec: S) {
  return z.strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata,
    spec,
  });
}

