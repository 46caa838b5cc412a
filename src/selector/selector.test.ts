import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCodes, isWeftError } from '../lib/errors.ts';
import {
  labelsUsed,
  MAX_SELECTOR_LENGTH,
  normaliseValues,
  parseSelector,
  printNode,
  selectorFromNode,
  validateSelector,
  type Labels,
  type SelectorNode,
} from './index.ts';

interface Case {
  selector: string;
  matches: Labels[];
  nonMatches: Labels[];
}

const CASES: Case[] = [
  // empty / functions
  { selector: '', matches: [{}, { a: 'b' }], nonMatches: [] },
  { selector: '   \t\n', matches: [{}], nonMatches: [] },
  { selector: 'all()', matches: [{}, { a: 'b' }], nonMatches: [] },
  { selector: 'all( )', matches: [{}], nonMatches: [] },
  { selector: 'global()', matches: [{}, { a: 'b' }], nonMatches: [] },
  { selector: 'has(a)', matches: [{ a: '' }, { a: 'x' }], nonMatches: [{}, { b: 'a' }] },
  { selector: 'has( a )', matches: [{ a: 'x' }], nonMatches: [{}] },
  { selector: '!has(a)', matches: [{}, { b: 'a' }], nonMatches: [{ a: '' }] },
  // == / !=
  { selector: 'a == "x"', matches: [{ a: 'x' }, { a: 'x', b: 'y' }], nonMatches: [{}, { a: 'y' }, { a: '' }, { b: 'x' }] },
  { selector: "a == 'x'", matches: [{ a: 'x' }], nonMatches: [{ a: 'X' }] },
  { selector: 'a=="x"', matches: [{ a: 'x' }], nonMatches: [{}] },
  { selector: 'a == ""', matches: [{ a: '' }], nonMatches: [{}, { a: 'x' }] },
  { selector: 'a != "x"', matches: [{}, { a: 'y' }, { a: '' }], nonMatches: [{ a: 'x' }] },
  { selector: "a!='x'", matches: [{}], nonMatches: [{ a: 'x' }] },
  { selector: `a == 'say "hi"'`, matches: [{ a: 'say "hi"' }], nonMatches: [{ a: 'say hi' }] },
  { selector: `a == "it's"`, matches: [{ a: "it's" }], nonMatches: [{}] },
  // in / not in
  { selector: 'a in {"x", "y"}', matches: [{ a: 'x' }, { a: 'y' }], nonMatches: [{}, { a: 'z' }, { a: '' }] },
  { selector: "a in{'x','y'}", matches: [{ a: 'y' }], nonMatches: [{ a: 'z' }] },
  { selector: 'a in {}', matches: [], nonMatches: [{}, { a: '' }, { a: 'x' }] },
  { selector: 'a not in {"x", "y"}', matches: [{}, { a: 'z' }], nonMatches: [{ a: 'x' }, { a: 'y' }] },
  { selector: 'a notin {"x"}', matches: [{}, { a: 'z' }], nonMatches: [{ a: 'x' }] },
  { selector: 'a not   in {"x"}', matches: [{ a: 'z' }], nonMatches: [{ a: 'x' }] },
  { selector: 'a not in {}', matches: [{}, { a: 'x' }], nonMatches: [] },
  // contains / starts with / ends with: false when absent
  { selector: 'a contains "ell"', matches: [{ a: 'hello' }, { a: 'ell' }], nonMatches: [{}, { a: 'hel' }] },
  { selector: 'a contains ""', matches: [{ a: '' }, { a: 'q' }], nonMatches: [{}] },
  { selector: 'a starts with "he"', matches: [{ a: 'hello' }, { a: 'he' }], nonMatches: [{}, { a: 'ahe' }] },
  { selector: 'a startswith "he"', matches: [{ a: 'hello' }], nonMatches: [{}] },
  { selector: 'a ends with "lo"', matches: [{ a: 'hello' }], nonMatches: [{}, { a: 'lol' }] },
  { selector: "a endswith 'lo'", matches: [{ a: 'hello' }], nonMatches: [{}] },
  { selector: '!a contains "x"', matches: [{}, { a: 'y' }], nonMatches: [{ a: 'xx' }] },
  // negation binds to the whole comparison
  { selector: '!a == "x"', matches: [{}, { a: 'y' }], nonMatches: [{ a: 'x' }] },
  { selector: '!!has(a)', matches: [{ a: '1' }], nonMatches: [{}] },
  { selector: '! has(a)', matches: [{}], nonMatches: [{ a: '1' }] },
  // precedence: && binds tighter than ||
  {
    selector: 'a == "1" || b == "1" && c == "1"',
    matches: [{ a: '1' }, { b: '1', c: '1' }],
    nonMatches: [{ b: '1' }, { c: '1' }, {}],
  },
  {
    selector: '(a == "1" || b == "1") && c == "1"',
    matches: [{ a: '1', c: '1' }, { b: '1', c: '1' }],
    nonMatches: [{ a: '1' }, { c: '1' }],
  },
  { selector: '!(has(a) && has(b))', matches: [{}, { a: '' }, { b: '' }], nonMatches: [{ a: '', b: '' }] },
  { selector: '!(has(a) || has(b))', matches: [{}], nonMatches: [{ a: '' }, { b: '' }] },
  { selector: '((has(a)))', matches: [{ a: '' }], nonMatches: [{}] },
  { selector: 'has(a) && has(b) && has(c)', matches: [{ a: '', b: '', c: '' }], nonMatches: [{ a: '', b: '' }] },
  { selector: 'has(a)||has(b)||has(c)', matches: [{ c: '' }], nonMatches: [{ d: '' }] },
  { selector: '\n has(a)\t&&\r\n( b=="x" )  ', matches: [{ a: '', b: 'x' }], nonMatches: [{ a: '' }] },
  // identifiers
  {
    selector: 'projectcalico.org/namespace == "ns-1"',
    matches: [{ 'projectcalico.org/namespace': 'ns-1' }],
    nonMatches: [{ namespace: 'ns-1' }],
  },
  { selector: 'calico/k8s_ns == "default"', matches: [{ 'calico/k8s_ns': 'default' }], nonMatches: [{}] },
  { selector: '-a.b_c/9 == "v"', matches: [{ '-a.b_c/9': 'v' }], nonMatches: [{}] },
  // keywords are only keywords in context: labels may be named like them
  { selector: 'in == "x"', matches: [{ in: 'x' }], nonMatches: [{}] },
  { selector: 'has == "x" && all in {"y"}', matches: [{ has: 'x', all: 'y' }], nonMatches: [{ has: 'x' }] },
  // a label named `not` followed by `in` (not a `not in` operator with a missing label)
  { selector: 'not in {"x"}', matches: [{ not: 'x' }], nonMatches: [{}, { not: 'y' }] },
  { selector: 'has(has)', matches: [{ has: '' }], nonMatches: [{}] },
  // inherited Object.prototype members are not labels
  { selector: 'has(constructor)', matches: [{ constructor: 'x' }], nonMatches: [{}] },
  { selector: 'constructor != "x"', matches: [{}], nonMatches: [{ constructor: 'x' }] },
  { selector: 'toString not in {"x"}', matches: [{}], nonMatches: [{ toString: 'x' }] },
];

describe('selector evaluation table', () => {
  for (const c of CASES) {
    test(JSON.stringify(c.selector), () => {
      assert.equal(validateSelector(c.selector), undefined);
      const sel = parseSelector(c.selector);
      for (const l of c.matches) assert.equal(sel.evaluate(l), true, `should match ${JSON.stringify(l)}`);
      for (const l of c.nonMatches) assert.equal(sel.evaluate(l), false, `should not match ${JSON.stringify(l)}`);
      // canonical text re-parses to the same AST and is a fixed point
      const again = parseSelector(sel.toString());
      assert.deepEqual(again.ast, sel.ast);
      assert.equal(again.toString(), sel.toString());
      assert.equal(again.uniqueId, sel.uniqueId);
    });
  }
});

describe('canonical printing', () => {
  const table: [string, string][] = [
    ['', 'all()'],
    ["a=='x'&&(b!='y'||has(c))", 'a == "x" && (b != "y" || has(c))'],
    ['(a == "x" && b == "y") || c == "z"', 'a == "x" && b == "y" || c == "z"'],
    ['a == "x" && (b == "y" && c == "z")', 'a == "x" && (b == "y" && c == "z")'],
    ['!(has(a))', '!has(a)'],
    ['!(has(a) || has(b))', '!(has(a) || has(b))'],
    ["a notin {'y','x','y'}", 'a not in {"x", "y"}'],
    ['a in { }', 'a in {}'],
    [`a == 'q"q'`, `a == 'q"q'`],
    ['a startswith "x" || b endswith "y"', 'a starts with "x" || b ends with "y"'],
  ];
  for (const [input, want] of table) {
    test(JSON.stringify(input), () => assert.equal(parseSelector(input).toString(), want));
  }

  test('uniqueId is stable across spellings and differs between selectors', () => {
    assert.equal(parseSelector("a=='x'").uniqueId, parseSelector('  a == "x" ').uniqueId);
    assert.notEqual(parseSelector('a == "x"').uniqueId, parseSelector('a == "y"').uniqueId);
    assert.match(parseSelector('').uniqueId, /^s:[0-9a-f]{40}$/);
  });

  test('labelsUsed', () => {
    assert.deepEqual(labelsUsed(parseSelector('b == "1" && (has(a) || !c in {}) && b != "2" && all()')), ['a', 'b', 'c']);
    assert.deepEqual(labelsUsed(parseSelector('global()')), []);
  });
});

describe('selector errors', () => {
  const errors: { selector: string; position: number; message?: RegExp }[] = [
    { selector: 'a == "x" && && b', position: 12, message: /^unexpected "&&" at position 12, expected a label or function$/ },
    { selector: 'a == "x', position: 5, message: /unterminated string/ },
    { selector: "a in {'x', 'y}", position: 11, message: /unterminated string/ },
    { selector: 'a == "x" b', position: 9, message: /unexpected "b".*end of input/ },
    { selector: 'has(a))', position: 6 },
    { selector: '(has(a)', position: 7, message: /end of input.*"\)"/ },
    { selector: 'a', position: 1, message: /expected an operator/ },
    { selector: 'a = "x"', position: 2 },
    { selector: 'a == x', position: 5, message: /expected a quoted string/ },
    { selector: 'a == ', position: 5, message: /unexpected end of input/ },
    { selector: '&& a == "x"', position: 0 },
    { selector: 'a == "x" &&', position: 11 },
    { selector: 'a == "x" ||', position: 11 },
    { selector: 'a == "x" & b == "y"', position: 9 },
    { selector: '()', position: 1 },
    { selector: '!', position: 1 },
    { selector: 'has()', position: 4, message: /expected a label/ },
    { selector: 'has(a', position: 5 },
    { selector: 'has (a)', position: 4 },
    { selector: 'all(x)', position: 4 },
    { selector: 'foo(a)', position: 0, message: /unknown function "foo"/ },
    { selector: 'a in {"x",}', position: 10 },
    { selector: 'a in {"x" "y"}', position: 10 },
    { selector: 'a in "x"', position: 5 },
    { selector: 'a inx {"x"}', position: 2 },
    { selector: 'a starts "x"', position: 2 },
    { selector: 'a @= "x"', position: 2 },
    { selector: 'é == "x"', position: 0 },
    { selector: 'a == "x" && b == "é" && c', position: 25 },
    { selector: 'a != "x" !', position: 9 },
    { selector: 'a ==\u00a0"x"', position: 4 },
    { selector: `${'k'.repeat(513)} == "x"`, position: 0, message: /too long/ },
    { selector: 'has(x)'.padEnd(MAX_SELECTOR_LENGTH + 1, ' '), position: MAX_SELECTOR_LENGTH, message: /too long/ },
  ];
  for (const e of errors) {
    test(JSON.stringify(e.selector.length > 60 ? e.selector.slice(0, 60) + '…' : e.selector), () => {
      const msg = validateSelector(e.selector);
      assert.ok(msg !== undefined, 'should be invalid');
      if (e.message) assert.match(msg, e.message);
      assert.throws(
        () => parseSelector(e.selector),
        (err: unknown) => {
          assert.ok(isWeftError(err, ErrorCodes.SELECTOR));
          assert.equal(err.details?.position, e.position, err.message);
          assert.equal(err.details?.selector, e.selector);
          assert.equal(err.message, msg);
          return true;
        },
      );
    });
  }

  test('length limits are inclusive', () => {
    assert.equal(validateSelector(`${'k'.repeat(512)} == "x"`), undefined);
    assert.equal(validateSelector('has(x)'.padEnd(MAX_SELECTOR_LENGTH, ' ')), undefined);
  });
});

// ---- property tests ----

const labelArb = fc.oneof(
  fc.constantFrom('a', 'b', 'c', 'has', 'in', 'not', 'all', 'projectcalico.org/namespace', 'constructor'),
  fc.stringMatching(/^[a-zA-Z0-9_./-]{1,12}$/),
);
// values from a small alphabet so that random label maps actually hit them; never both quote kinds.
const valueArb = fc.oneof(
  fc.constantFrom('', 'x', 'y', 'xy', 'yx'),
  fc.stringMatching(/^[xy "]{0,4}$/),
  fc.stringMatching(/^[xy ']{0,4}$/),
);

const nodeArb: fc.Arbitrary<SelectorNode> = fc.letrec<{ node: SelectorNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant<SelectorNode>({ kind: 'all' }),
    fc.constant<SelectorNode>({ kind: 'global' }),
    labelArb.map((label): SelectorNode => ({ kind: 'has', label })),
    fc
      .tuple(fc.constantFrom('eq', 'neq', 'contains', 'startsWith', 'endsWith'), labelArb, valueArb)
      .map(([kind, label, value]): SelectorNode => ({ kind, label, value })),
    fc
      .tuple(fc.constantFrom('in', 'notIn'), labelArb, fc.array(valueArb, { maxLength: 3 }))
      .map(([kind, label, vs]): SelectorNode => ({ kind, label, values: normaliseValues(vs) })),
    tie('node').map((operand): SelectorNode => ({ kind: 'not', operand })),
    fc
      .tuple(fc.constantFrom('and', 'or'), fc.array(tie('node'), { minLength: 2, maxLength: 3 }))
      .map(([kind, operands]): SelectorNode => ({ kind, operands })),
  ),
})).node;

const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(
  fc.oneof(fc.constantFrom('a', 'b', 'c', 'has', 'in', 'not', 'constructor'), labelArb),
  valueArb,
  { maxKeys: 6 },
);

/** Reference evaluator written straight from the spec, independent of the compiled closures. */
function refEval(n: SelectorNode, l: Labels): boolean {
  const get = (k: string): string | undefined => (Object.hasOwn(l, k) ? l[k] : undefined);
  switch (n.kind) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return get(n.label) !== undefined;
    case 'eq':
      return get(n.label) === n.value;
    case 'neq':
      return get(n.label) !== n.value;
    case 'in': {
      const v = get(n.label);
      return v !== undefined && n.values.includes(v);
    }
    case 'notIn': {
      const v = get(n.label);
      return v === undefined || !n.values.includes(v);
    }
    case 'contains':
      return get(n.label)?.includes(n.value) ?? false;
    case 'startsWith':
      return get(n.label)?.startsWith(n.value) ?? false;
    case 'endsWith':
      return get(n.label)?.endsWith(n.value) ?? false;
    case 'not':
      return !refEval(n.operand, l);
    case 'and':
      return n.operands.every((o) => refEval(o, l));
    case 'or':
      return n.operands.some((o) => refEval(o, l));
  }
}

describe('selector properties', () => {
  test('random AST -> print -> parse gives an equal AST with the same evaluation', () => {
    fc.assert(
      fc.property(nodeArb, fc.array(labelsArb, { minLength: 1, maxLength: 8 }), (ast, maps) => {
        const text = printNode(ast);
        fc.pre(text.length <= MAX_SELECTOR_LENGTH);
        const sel = parseSelector(text);
        assert.deepEqual(sel.ast, ast);
        assert.equal(sel.toString(), text);
        const direct = selectorFromNode(ast);
        for (const l of maps) {
          const want = refEval(ast, l);
          assert.equal(sel.evaluate(l), want);
          assert.equal(direct.evaluate(l), want);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('parseSelector on arbitrary text only ever throws WeftError(ERR_SELECTOR)', () => {
    const piece = fc.constantFrom(
      'a', 'b', ' ', '==', '!=', '!', '&&', '||', '(', ')', '{', '}', ',', '"', "'", '"x"', "'y'",
      'in', 'not', 'notin', 'contains', 'starts', 'with', 'ends', 'has(', 'all(', 'global(', '&', '|', '=',
    );
    const textArb = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.array(piece, { maxLength: 25 }).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(textArb, (text) => {
        try {
          const sel = parseSelector(text);
          // anything that parses must round-trip through the canonical form
          assert.deepEqual(parseSelector(sel.toString()).ast, sel.ast);
          assert.equal(validateSelector(text), undefined);
        } catch (e) {
          if (!isWeftError(e, ErrorCodes.SELECTOR)) throw e;
          assert.equal(typeof e.details?.position, 'number');
          assert.equal(validateSelector(text), e.message);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('regressions found by property runs', () => {
    // (none found so far; add crashing inputs here as {text, want} pairs)
    const cases: [string, string | undefined][] = [
      ['!=', 'unexpected "!=" at position 0, expected a label or function'],
      ['a!=""', undefined],
    ];
    for (const [text, want] of cases) assert.equal(validateSelector(text), want);
  });
});
