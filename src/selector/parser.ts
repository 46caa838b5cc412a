/**
 * Recursive-descent parser for Calico selectors (libcalico-go lib/selector/{tokenizer,parser}).
 *
 * Like Calico's tokenizer, scanning is context dependent: where an operand is expected,
 * `has(`/`all(`/`global(` are functions and any other identifier is a label; right after a
 * label the words `in`, `not in`/`notin`, `contains`, `starts with`, `ends with` are operators.
 * So a label may itself be called `in` or `has`.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { normaliseValues, type SelectorNode } from './ast.ts';

export const MAX_SELECTOR_LENGTH = 1024;
export const MAX_LABEL_LENGTH = 512;

const ALL: SelectorNode = Object.freeze({ kind: 'all' });
const GLOBAL: SelectorNode = Object.freeze({ kind: 'global' });

function isIdentChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x5f || // _
    c === 0x2e || // .
    c === 0x2f || // /
    c === 0x2d // -
  );
}

function isSpace(c: number): boolean {
  // Go's regexp \s: space, \t, \n, \v, \f, \r.
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

export class SelectorSyntaxError extends WeftError {
  readonly position: number;
  constructor(message: string, position: number, selector: string) {
    super(ErrorCodes.SELECTOR, message, { details: { position, selector } });
    this.position = position;
  }
}

class Parser {
  readonly src: string;
  pos = 0;
  depth = 0;

  constructor(src: string) {
    this.src = src;
  }

  fail(message: string, position = this.pos): never {
    throw new SelectorSyntaxError(message, position, this.src);
  }

  /** Short human rendering of whatever sits at `pos`, for "unexpected X" messages. */
  describe(pos: number): string {
    const s = this.src;
    if (pos >= s.length) return 'end of input';
    const c = s.charCodeAt(pos);
    let end = pos + 1;
    if (isIdentChar(c)) {
      while (end < s.length && isIdentChar(s.charCodeAt(end))) end++;
    } else if (c === 0x22 || c === 0x27) {
      const close = s.indexOf(s[pos], pos + 1);
      end = close < 0 ? s.length : close + 1;
    } else {
      const two = s.slice(pos, pos + 2);
      if (two === '==' || two === '!=' || two === '&&' || two === '||') end = pos + 2;
    }
    let text = s.slice(pos, end);
    if (text.length > 40) text = text.slice(0, 37) + '...';
    return JSON.stringify(text);
  }

  unexpected(expected: string): never {
    this.fail(`unexpected ${this.describe(this.pos)} at position ${this.pos}, expected ${expected}`);
  }

  skipWs(): void {
    const s = this.src;
    while (this.pos < s.length && isSpace(s.charCodeAt(this.pos))) this.pos++;
  }

  /** Consumes `tok` (after whitespace) if present. */
  eat(tok: string): boolean {
    this.skipWs();
    if (this.src.startsWith(tok, this.pos)) {
      this.pos += tok.length;
      return true;
    }
    return false;
  }

  ident(): string {
    const s = this.src;
    const start = this.pos;
    let end = start;
    while (end < s.length && isIdentChar(s.charCodeAt(end))) end++;
    if (end - start > MAX_LABEL_LENGTH) {
      this.fail(`label at position ${start} is too long (${end - start} characters, max ${MAX_LABEL_LENGTH})`, start);
    }
    this.pos = end;
    return s.slice(start, end);
  }

  /** Matches a keyword made of words separated by optional whitespace (Calico: `starts\s*with`), ending on a word boundary. */
  keyword(...words: string[]): boolean {
    const s = this.src;
    let p = this.pos;
    for (let i = 0; i < words.length; i++) {
      if (i > 0) while (p < s.length && isSpace(s.charCodeAt(p))) p++;
      if (!s.startsWith(words[i], p)) return false;
      p += words[i].length;
    }
    if (p < s.length && isIdentChar(s.charCodeAt(p))) return false;
    this.pos = p;
    return true;
  }

  string(): string {
    this.skipWs();
    const s = this.src;
    const q = s.charCodeAt(this.pos);
    if (q !== 0x22 && q !== 0x27) this.unexpected('a quoted string');
    const close = s.indexOf(s[this.pos], this.pos + 1);
    if (close < 0) this.fail(`unterminated string starting at position ${this.pos}`);
    const value = s.slice(this.pos + 1, close);
    this.pos = close + 1;
    return value;
  }

  valueSet(): string[] {
    if (!this.eat('{')) this.unexpected('"{"');
    const values: string[] = [];
    if (this.eat('}')) return values;
    for (;;) {
      this.skipWs();
      const q = this.src.charCodeAt(this.pos);
      if (q !== 0x22 && q !== 0x27) this.unexpected(values.length === 0 ? 'a quoted string or "}"' : 'a quoted string');
      values.push(this.string());
      if (this.eat('}')) return values;
      if (!this.eat(',')) this.unexpected('"," or "}"');
    }
  }

  parseTop(): SelectorNode {
    this.skipWs();
    if (this.pos >= this.src.length) return ALL;
    const n = this.parseOr();
    this.skipWs();
    if (this.pos < this.src.length) this.unexpected('"&&", "||" or end of input');
    return n;
  }

  parseOr(): SelectorNode {
    const first = this.parseAnd();
    const ops = [first];
    while (this.eat('||')) ops.push(this.parseAnd());
    return ops.length === 1 ? first : Object.freeze({ kind: 'or', operands: Object.freeze(ops) });
  }

  parseAnd(): SelectorNode {
    const first = this.parseUnary();
    const ops = [first];
    while (this.eat('&&')) ops.push(this.parseUnary());
    return ops.length === 1 ? first : Object.freeze({ kind: 'and', operands: Object.freeze(ops) });
  }

  parseUnary(): SelectorNode {
    this.skipWs();
    const s = this.src;
    const c = s.charCodeAt(this.pos);
    // Bounded by MAX_SELECTOR_LENGTH anyway, so recursion depth is at most ~1024.
    if (c === 0x21 /* ! */ && s.charCodeAt(this.pos + 1) !== 0x3d /* = */) {
      this.pos++;
      return Object.freeze({ kind: 'not', operand: this.parseUnary() });
    }
    if (c === 0x28 /* ( */) {
      this.pos++;
      const inner = this.parseOr();
      if (!this.eat(')')) this.unexpected('"&&", "||" or ")"');
      return inner;
    }
    if (!isIdentChar(c)) this.unexpected('a label or function');
    const start = this.pos;
    const name = this.ident();
    if (s.charCodeAt(this.pos) === 0x28 /* ( */) {
      // Function call: Calico requires the "(" to follow the name directly.
      this.pos++;
      if (name === 'has') {
        this.skipWs();
        if (!isIdentChar(s.charCodeAt(this.pos))) this.unexpected('a label');
        const label = this.ident();
        if (!this.eat(')')) this.unexpected('")"');
        return Object.freeze({ kind: 'has', label });
      }
      if (name === 'all' || name === 'global') {
        if (!this.eat(')')) this.unexpected('")"');
        return name === 'all' ? ALL : GLOBAL;
      }
      this.fail(`unknown function ${JSON.stringify(name)} at position ${start}, expected has(), all() or global()`, start);
    }
    return this.parseComparison(name);
  }

  parseComparison(label: string): SelectorNode {
    this.skipWs();
    if (this.eat('==')) return Object.freeze({ kind: 'eq', label, value: this.string() });
    if (this.src.startsWith('!=', this.pos)) {
      this.pos += 2;
      return Object.freeze({ kind: 'neq', label, value: this.string() });
    }
    if (this.keyword('in')) return Object.freeze({ kind: 'in', label, values: Object.freeze(normaliseValues(this.valueSet())) });
    if (this.keyword('not', 'in')) {
      return Object.freeze({ kind: 'notIn', label, values: Object.freeze(normaliseValues(this.valueSet())) });
    }
    if (this.keyword('contains')) return Object.freeze({ kind: 'contains', label, value: this.string() });
    if (this.keyword('starts', 'with')) return Object.freeze({ kind: 'startsWith', label, value: this.string() });
    if (this.keyword('ends', 'with')) return Object.freeze({ kind: 'endsWith', label, value: this.string() });
    this.unexpected('an operator (==, !=, in, not in, contains, starts with, ends with)');
  }
}

/** Parses selector text to a frozen AST; throws SelectorSyntaxError (a WeftError, code ERR_SELECTOR). */
export function parseNode(text: string): SelectorNode {
  if (typeof text !== 'string') {
    throw new SelectorSyntaxError('selector must be a string', 0, String(text));
  }
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorSyntaxError(
      `selector is too long (${text.length} characters, max ${MAX_SELECTOR_LENGTH})`,
      MAX_SELECTOR_LENGTH,
      text,
    );
  }
  return new Parser(text).parseTop();
}
