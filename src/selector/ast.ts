/**
 * Selector AST and canonical printer.
 *
 * Shape invariants (the parser guarantees them; hand-built ASTs must respect them):
 * - `and`/`or` have >= 2 operands; a chain `a && b && c` is ONE n-ary node, while a
 *   parenthesised sub-expression of the same operator stays nested, so print→parse is exact.
 * - `in`/`notIn` values are sorted (UTF-16 code-unit order) and de-duplicated.
 * - labels match `[a-zA-Z0-9_./-]{1,512}`; values never contain both `"` and `'`.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';

export type SelectorNode =
  | { readonly kind: 'all' }
  | { readonly kind: 'global' }
  | { readonly kind: 'has'; readonly label: string }
  | { readonly kind: 'eq'; readonly label: string; readonly value: string }
  | { readonly kind: 'neq'; readonly label: string; readonly value: string }
  | { readonly kind: 'in'; readonly label: string; readonly values: readonly string[] }
  | { readonly kind: 'notIn'; readonly label: string; readonly values: readonly string[] }
  | { readonly kind: 'contains'; readonly label: string; readonly value: string }
  | { readonly kind: 'startsWith'; readonly label: string; readonly value: string }
  | { readonly kind: 'endsWith'; readonly label: string; readonly value: string }
  | { readonly kind: 'not'; readonly operand: SelectorNode }
  | { readonly kind: 'and'; readonly operands: readonly SelectorNode[] }
  | { readonly kind: 'or'; readonly operands: readonly SelectorNode[] };

export type SelectorKind = SelectorNode['kind'];

/** Canonical value-set form: sorted, unique. Calico treats the set as a set, so order is not meaningful. */
export function normaliseValues(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

export function quote(value: string): string {
  if (!value.includes('"')) return `"${value}"`;
  if (!value.includes("'")) return `'${value}'`;
  // The grammar has no escapes, so such a value is unrepresentable (the parser can never produce it).
  throw new WeftError(ErrorCodes.SELECTOR, 'selector value contains both quote characters and cannot be printed', {
    details: { value },
  });
}

function paren(n: SelectorNode): string {
  return `(${printNode(n)})`;
}

/** Canonical text with the minimum parentheses needed to re-parse to the same AST. */
export function printNode(n: SelectorNode): string {
  switch (n.kind) {
    case 'all':
      return 'all()';
    case 'global':
      return 'global()';
    case 'has':
      return `has(${n.label})`;
    case 'eq':
      return `${n.label} == ${quote(n.value)}`;
    case 'neq':
      return `${n.label} != ${quote(n.value)}`;
    case 'in':
      return `${n.label} in {${n.values.map(quote).join(', ')}}`;
    case 'notIn':
      return `${n.label} not in {${n.values.map(quote).join(', ')}}`;
    case 'contains':
      return `${n.label} contains ${quote(n.value)}`;
    case 'startsWith':
      return `${n.label} starts with ${quote(n.value)}`;
    case 'endsWith':
      return `${n.label} ends with ${quote(n.value)}`;
    case 'not':
      return '!' + (n.operand.kind === 'and' || n.operand.kind === 'or' ? paren(n.operand) : printNode(n.operand));
    case 'and':
      // A nested `and` must keep its parens: the parser only flattens un-parenthesised chains.
      return n.operands.map((o) => (o.kind === 'and' || o.kind === 'or' ? paren(o) : printNode(o))).join(' && ');
    case 'or':
      return n.operands.map((o) => (o.kind === 'or' ? paren(o) : printNode(o))).join(' || ');
  }
}

/** Label keys referenced anywhere in the tree, sorted and unique. */
export function collectLabels(n: SelectorNode, out: Set<string> = new Set()): Set<string> {
  switch (n.kind) {
    case 'all':
    case 'global':
      break;
    case 'not':
      collectLabels(n.operand, out);
      break;
    case 'and':
    case 'or':
      for (const o of n.operands) collectLabels(o, out);
      break;
    default:
      out.add(n.label);
  }
  return out;
}
