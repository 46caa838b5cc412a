/**
 * Entry points that accept either manifest version: v1 documents are converted (v1.ts) and then
 * validated as v3; v3 documents are validated directly.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import type { ManifestDocument } from './manifest.ts';
import { convertV1Raw, isV1Document } from './v1.ts';
import {
  checkV3,
  describeRef,
  formatIssues,
  validationError,
  type DocumentRef,
  type Resource,
  type ValidateOptions,
  type ValidationIssue,
  type ValidationResult,
} from './validate.ts';

/** Validates one document of either version; never throws for bad input. */
export function checkDocument(doc: unknown, opts: ValidateOptions = {}): ValidationResult {
  if (!isV1Document(doc)) return checkV3(doc, opts);
  const c = convertV1Raw(doc);
  if (!c.ok) return c;
  const r = checkV3(c.value, opts);
  if (r.ok) return r;
  // Name the v1 kind too, so the user can find the document they wrote.
  const v1kind = (doc as { kind?: unknown }).kind;
  return { ...r, ref: { ...r.ref, kind: `${r.ref.kind ?? '?'} (from v1 ${String(v1kind)})` } };
}

/**
 * Any document (v1 or v3) → validated v3 resource with defaults applied.
 * @throws WeftError(ERR_VALIDATION) with details {document, kind, name, issues:[{path, message}]}
 */
export function toV3(doc: unknown, opts: ValidateOptions & { ref?: DocumentRef } = {}): Resource {
  const r = checkDocument(doc, opts);
  if (r.ok) return r.resource;
  throw validationError({ ...opts.ref, ...r.ref }, r.issues);
}

/** Alias of toV3: validate one document and return the v3 resource. */
export const validateResource = toV3;

/**
 * Converts a v1 document (`apiVersion: v1`) as `calicoctl convert` did, returning the validated
 * v3 resource. Throws ERR_VALIDATION for a non-v1 or invalid document.
 */
export function convertV1(doc: unknown): Resource {
  if (!isV1Document(doc)) {
    throw new WeftError(ErrorCodes.VALIDATION, `not a v1 document (apiVersion must be "v1")`, {
      details: { issues: [{ path: 'apiVersion', message: 'must be "v1"' }] },
    });
  }
  return toV3(doc);
}

/** One invalid document of a batch. */
export interface InvalidDocument {
  ref: DocumentRef;
  issues: ValidationIssue[];
}

/**
 * Validates every document before anything is written, so a failed batch stores nothing.
 * Returns the v3 resources in document order.
 * @throws WeftError(ERR_VALIDATION) listing every invalid document (details.invalid), with the
 *   first one's {document, kind, name, issues} at the top level of details.
 */
export function validateAll(docs: readonly ManifestDocument[], opts: ValidateOptions = {}): Resource[] {
  const out: Resource[] = [];
  const bad: InvalidDocument[] = [];
  for (const d of docs) {
    const r = checkDocument(d.value, opts);
    if (r.ok) out.push(r.resource);
    else bad.push({ ref: { ...r.ref, document: d.index, source: d.source }, issues: r.issues });
  }
  if (bad.length > 0) throw batchValidationError(bad, docs.length);
  return out;
}

export function batchValidationError(bad: readonly InvalidDocument[], total: number): WeftError {
  const lines = bad.map((b) => `${describeRef(b.ref)}: ${formatIssues(b.issues)}`);
  const first = bad[0];
  const message =
    bad.length === 1 ? lines[0] : `${bad.length} of ${total} documents are invalid:\n${lines.map((l) => `  ${l}`).join('\n')}`;
  return new WeftError(ErrorCodes.VALIDATION, message, {
    hint: 'nothing was written; fix the documents and run the command again',
    details: {
      document: first.ref.document,
      source: first.ref.source,
      kind: first.ref.kind,
      name: first.ref.name,
      issues: first.issues,
      invalid: bad.map((b) => ({ document: b.ref.document, kind: b.ref.kind, name: b.ref.name, issues: b.issues })),
    },
  });
}
