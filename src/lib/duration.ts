/**
 * Go `time.ParseDuration` text (what Kubernetes `metav1.Duration` and Calico's v3
 * FelixConfiguration use: `90s`, `1m30s`, `250ms`, `1.5h`) to seconds.
 */
import { ErrorCodes, WeftError } from './errors.ts';

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Seconds for a Go duration; `0` (no unit) is accepted as Go does. Throws a WeftError (ERR_PARSE). */
export function parseDurationSeconds(text: string): number {
  const s = text.trim();
  if (s === '0' || s === '+0' || s === '-0') return 0;
  let i = 0;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    i = 1;
  }
  if (i >= s.length) throw bad(text);
  let total = 0;
  while (i < s.length) {
    PART.lastIndex = i;
    const m = PART.exec(s);
    if (m === null) throw bad(text);
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    i = PART.lastIndex;
  }
  return sign * total;
}

/**
 * A FelixConfiguration duration field: a Go duration string, or (as felix's own config file and
 * environment accept) a bare number of seconds. `undefined` passes through.
 */
export function durationField(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') return /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : parseDurationSeconds(v);
  throw bad(String(v));
}

function bad(text: string): WeftError {
  return new WeftError(ErrorCodes.PARSE, `${JSON.stringify(text)} is not a duration`, { hint: 'use Go duration syntax, e.g. 90s, 1m30s, 250ms' });
}
