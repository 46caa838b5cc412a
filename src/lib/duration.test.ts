import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { durationField, parseDurationSeconds } from './duration.ts';
import { isWeftError } from './errors.ts';

test('Go durations', () => {
  assert.equal(parseDurationSeconds('90s'), 90);
  assert.equal(parseDurationSeconds('1m30s'), 90);
  assert.equal(parseDurationSeconds('250ms'), 0.25);
  assert.equal(parseDurationSeconds('1.5h'), 5400);
  assert.equal(parseDurationSeconds('0'), 0);
  assert.equal(parseDurationSeconds('-2s'), -2);
  assert.equal(parseDurationSeconds('1h2m3s4ms'), 3723.004);
  for (const bad of ['', '10', 's', '1x', '1 s', '--1s', '1s-', '+', '.s']) {
    assert.throws(() => parseDurationSeconds(bad), (e: unknown) => isWeftError(e) && /not a duration/.test((e as Error).message), bad);
  }
  assert.equal(durationField(undefined), undefined);
  assert.equal(durationField(30), 30);
  assert.equal(durationField('30'), 30);
  assert.equal(durationField('30s'), 30);
  assert.throws(() => durationField(true), /not a duration/);
});

test('property: sums of parts parse to their total; any string parses or throws a WeftError', () => {
  const units = [['h', 3600], ['m', 60], ['s', 1], ['ms', 1e-3]] as const;
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(1000), fc.constantFrom(...units)), { minLength: 1, maxLength: 5 }), (parts) => {
    const text = parts.map(([n, [u]]) => `${n}${u}`).join('');
    const want = parts.reduce((a, [n, [, f]]) => a + n * f, 0);
    assert.ok(Math.abs(parseDurationSeconds(text) - want) < 1e-6);
  }));
  fc.assert(fc.property(fc.string(), (s) => {
    try {
      const v = parseDurationSeconds(s);
      assert.ok(Number.isFinite(v));
    } catch (e) {
      assert.ok(isWeftError(e), String(e));
    }
  }));
});
