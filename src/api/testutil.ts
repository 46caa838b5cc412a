/** Test helpers for the api component (imported by *.test.ts only). */
import assert from 'node:assert/strict';
import { checkDocument } from './resources.ts';
import type { Resource, ValidationIssue } from './validate.ts';

export function v3(kind: string, metadata: Record<string, unknown>, spec?: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'projectcalico.org/v3', kind, metadata, ...(spec !== undefined ? { spec } : {}) };
}

export function ok(doc: unknown): Resource {
  const r = checkDocument(doc);
  if (!r.ok) assert.fail(`expected valid, got: ${JSON.stringify(r.issues)}`);
  return r.resource;
}

export function issuesOf(doc: unknown): ValidationIssue[] {
  const r = checkDocument(doc);
  if (r.ok) assert.fail(`expected invalid, got: ${JSON.stringify(r.resource)}`);
  return r.issues;
}

/** Asserts an issue at exactly `path` whose message matches `re`. */
export function expectIssue(doc: unknown, path: string, re: RegExp): void {
  const is = issuesOf(doc);
  assert.ok(
    is.some((i) => i.path === path && re.test(i.message)),
    `expected issue at ${path} matching ${re}, got ${JSON.stringify(is)}`,
  );
}
