/**
 * Calico label selectors: parse, evaluate, print canonically, hash.
 * Grammar and semantics: see DESIGN.md and calico-notes §8.
 */
import { createHash } from 'node:crypto';
import { isWeftError } from '../lib/errors.ts';
import { collectLabels, printNode, type SelectorNode } from './ast.ts';
import { parseNode } from './parser.ts';

export type { SelectorKind, SelectorNode } from './ast.ts';
export { normaliseValues, printNode } from './ast.ts';
export { MAX_LABEL_LENGTH, MAX_SELECTOR_LENGTH, SelectorSyntaxError } from './parser.ts';

export type Labels = Readonly<Record<string, string>>;

export interface Selector {
  readonly ast: SelectorNode;
  /** True when `labels` satisfy the selector. */
  evaluate(labels: Labels): boolean;
  /** Canonical text; re-parses to an equal AST. */
  toString(): string;
  /** Stable hash of the canonical text ("s:" + 40 hex chars of sha256), usable as a map key. */
  readonly uniqueId: string;
}

type Pred = (l: Labels) => boolean;

/**
 * Label lookup. `typeof === 'string'` (rather than `in`) ignores inherited members such as
 * `constructor`, which are valid label keys but are functions on Object.prototype.
 */
function compile(n: SelectorNode): Pred {
  switch (n.kind) {
    case 'all':
    case 'global':
      // global() only restricts *which* entities are considered (GlobalNetworkSets/HostEndpoints);
      // as a label predicate it matches everything.
      return () => true;
    case 'has': {
      const k = n.label;
      return (l) => typeof l[k] === 'string';
    }
    case 'eq': {
      const { label: k, value: v } = n;
      return (l) => l[k] === v;
    }
    case 'neq': {
      // Calico: also true when the label is absent.
      const { label: k, value: v } = n;
      return (l) => l[k] !== v;
    }
    case 'in': {
      const k = n.label;
      const set = new Set(n.values);
      return (l) => {
        const v = l[k];
        return typeof v === 'string' && set.has(v);
      };
    }
    case 'notIn': {
      // Calico: also true when the label is absent.
      const k = n.label;
      const set = new Set(n.values);
      return (l) => {
        const v = l[k];
        return typeof v !== 'string' || !set.has(v);
      };
    }
    case 'contains': {
      const { label: k, value: s } = n;
      return (l) => {
        const v = l[k];
        return typeof v === 'string' && v.includes(s);
      };
    }
    case 'startsWith': {
      const { label: k, value: s } = n;
      return (l) => {
        const v = l[k];
        return typeof v === 'string' && v.startsWith(s);
      };
    }
    case 'endsWith': {
      const { label: k, value: s } = n;
      return (l) => {
        const v = l[k];
        return typeof v === 'string' && v.endsWith(s);
      };
    }
    case 'not': {
      const p = compile(n.operand);
      return (l) => !p(l);
    }
    case 'and': {
      const ps = n.operands.map(compile);
      if (ps.length === 2) {
        const [a, b] = ps;
        return (l) => a(l) && b(l);
      }
      return (l) => {
        for (const p of ps) if (!p(l)) return false;
        return true;
      };
    }
    case 'or': {
      const ps = n.operands.map(compile);
      if (ps.length === 2) {
        const [a, b] = ps;
        return (l) => a(l) || b(l);
      }
      return (l) => {
        for (const p of ps) if (p(l)) return true;
        return false;
      };
    }
  }
}

/** Evaluates an AST directly (compiles on every call; prefer `parseSelector(...).evaluate`). */
export function evaluateNode(n: SelectorNode, labels: Labels): boolean {
  return compile(n)(labels);
}

class CompiledSelector implements Selector {
  readonly ast: SelectorNode;
  readonly evaluate: (labels: Labels) => boolean;
  readonly #text: string;
  #id: string | undefined;

  constructor(ast: SelectorNode) {
    this.ast = ast;
    this.evaluate = compile(ast);
    this.#text = printNode(ast);
  }

  get uniqueId(): string {
    this.#id ??= 's:' + createHash('sha256').update(this.#text).digest('hex').slice(0, 40);
    return this.#id;
  }

  toString(): string {
    return this.#text;
  }

  toJSON(): string {
    return this.#text;
  }
}

/**
 * Parses selector text. Empty or whitespace-only text is `all()`.
 * Throws WeftError(ERR_SELECTOR) with details {position, selector} on bad syntax.
 */
export function parseSelector(text: string): Selector {
  return new CompiledSelector(parseNode(text));
}

/** Builds a Selector from an AST (must satisfy the invariants in ast.ts). */
export function selectorFromNode(ast: SelectorNode): Selector {
  return new CompiledSelector(ast);
}

/** undefined when `text` is a valid selector, else a human-readable message with the position. */
export function validateSelector(text: string): string | undefined {
  try {
    parseNode(text);
    return undefined;
  } catch (e) {
    if (isWeftError(e)) return e.message;
    throw e;
  }
}

/** Label keys referenced by the selector (sorted, unique): the keys an index needs to watch. */
export function labelsUsed(sel: Selector): string[] {
  return [...collectLabels(sel.ast)].sort();
}
