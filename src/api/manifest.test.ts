import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWeftError } from '../lib/errors.ts';
import { parseManifests } from './manifest.ts';
import { validateAll } from './resources.ts';

const pool = (name: string, cidr: string) =>
  `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: ${name}\nspec:\n  cidr: ${cidr}\n`;

describe('parseManifests', () => {
  test('multi-document YAML with indexes, sources and lines; empty documents skipped', () => {
    const docs = parseManifests(`${pool('a', '192.0.2.0/26')}---\n---\n${pool('b', '192.0.2.64/26')}`, 'pools.yaml');
    assert.equal(docs.length, 2);
    assert.deepEqual(
      docs.map((d) => [d.index, d.source, d.line]),
      [
        [1, 'pools.yaml', 1],
        [2, 'pools.yaml', 9],
      ],
    );
    assert.equal((docs[1].value as { metadata: { name: string } }).metadata.name, 'b');
  });
  test('JSON, single object and kind: List', () => {
    const one = parseManifests('{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"a"},"spec":{"cidr":"192.0.2.0/24"}}');
    assert.equal(one.length, 1);
    assert.equal(one[0].source, '-');
    const list = parseManifests(
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 't' } }, { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'u' } }] }),
    );
    assert.deepEqual(list.map((d) => d.index), [1, 2]);
  });
  test('typed lists fill in kind and apiVersion of items', () => {
    const docs = parseManifests('apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems:\n- metadata: {name: a}\n  spec: {cidr: 192.0.2.0/24}\n');
    assert.deepEqual(docs[0].value, { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'a' }, spec: { cidr: '192.0.2.0/24' } });
    assert.equal(docs[0].line, 4);
    const v1 = parseManifests('apiVersion: v1\nkind: ipPoolList\nitems:\n- metadata: {cidr: 192.0.2.0/24}\n');
    assert.equal(validateAll(v1)[0].metadata.name, '192-0-2-0-24');
  });
  test('top-level list (the seeds form) with item lines', () => {
    const docs = parseManifests('- apiVersion: v1\n  kind: ipPool\n  metadata:\n    cidr: 192.0.2.0/24\n- apiVersion: v1\n  kind: ipPool\n  metadata:\n    cidr: 198.51.100.0/24\n');
    assert.deepEqual(docs.map((d) => d.line), [1, 5]);
  });
  test('dotted AS numbers are kept as text', () => {
    const docs = parseManifests('apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec:\n  asNumber: 1.10\n');
    assert.equal((docs[0].value as { spec: { asNumber: unknown } }).spec.asNumber, '1.10');
    const [r] = validateAll(docs);
    if (r.kind === 'BGPConfiguration') assert.equal(r.spec.asNumber, 65546);
  });
  test('syntax errors carry line and column', () => {
    for (const [text, line] of [
      ['a: 1\n---\nb: [1, 2\n', 4], // unterminated: reported where the input ends
      ['apiVersion: v1\nkind: ipPool\n  metadata: x\n', 2],
      ['a: 1\na: 2\n', 2],
    ] as const) {
      try {
        parseManifests(text, 'bad.yaml');
        assert.fail('should throw');
      } catch (e) {
        assert.ok(isWeftError(e, 'ERR_PARSE'), String(e));
        assert.match(e.message, new RegExp(`^bad\\.yaml: line ${line}, column \\d+: `));
        assert.equal(e.details?.line, line);
      }
    }
  });
  test('null fields count as absent (Go semantics)', () => {
    const [r] = validateAll(parseManifests('apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n  labels:\nspec:\n  cidr: 192.0.2.0/24\n  natOutgoing:\n'));
    assert.equal(r.metadata.labels, undefined);
    if (r.kind === 'IPPool') assert.equal(r.spec.natOutgoing, false);
    const [t] = validateAll(parseManifests('apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec:\n'));
    assert.equal(t.kind, 'Tier');
  });
  test('empty input yields no documents', () => {
    assert.deepEqual(parseManifests(''), []);
    assert.deepEqual(parseManifests('# just a comment\n---\n'), []);
  });
});

describe('validateAll', () => {
  test('reports every invalid document, first one in details', () => {
    const text = [pool('ok', '192.0.2.0/24'), pool('pool-a', '192.0.2.0/33'), pool('Bad', '198.51.100.0/24')].join('---\n');
    try {
      validateAll(parseManifests(text, 'f.yaml'));
      assert.fail('should throw');
    } catch (e) {
      assert.ok(isWeftError(e, 'ERR_VALIDATION'));
      assert.match(e.message, /^2 of 3 documents are invalid:\n/);
      assert.match(e.message, /document 2 \(IPPool "pool-a"\): spec\.cidr: "192\.0\.2\.0\/33" is not a CIDR/);
      assert.match(e.message, /document 3 \(IPPool "Bad"\): metadata\.name: /);
      assert.equal(e.details?.document, 2);
      assert.equal((e.details?.invalid as unknown[]).length, 2);
    }
  });
  test('one invalid document gives the one-line message', () => {
    assert.throws(
      () => validateAll(parseManifests([pool('ok', '192.0.2.0/24'), pool('pool-a', '192.0.2.0/33')].join('---\n'))),
      { message: 'document 2 (IPPool "pool-a"): spec.cidr: "192.0.2.0/33" is not a CIDR' },
    );
  });
});
