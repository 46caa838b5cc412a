import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isWeftError } from '../lib/errors.ts';
import { parseCIDR, type CIDR } from '../lib/ip.ts';
import * as B from './block.ts';

const cidr = (s: string): CIDR => parseCIDR(s, { strict: true }) as CIDR;

describe('block layout', () => {
  test('new block has every ordinal free, in order, and Calico field names', () => {
    const b = B.newBlock(cidr('192.0.2.0/29'), 'host:h1', new Date('2026-01-01T00:00:00Z'));
    assert.deepEqual(b.unallocated, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(b.allocations, [null, null, null, null, null, null, null, null]);
    const json = JSON.parse(B.encodeBlock(b)) as Record<string, unknown>;
    for (const k of ['cidr', 'affinity', 'allocations', 'unallocated', 'attributes', 'sequenceNumber', 'sequenceNumberForAllocation', 'deleted']) {
      assert.ok(k in json, k);
    }
    assert.equal(json.affinity, 'host:h1');
    assert.deepEqual(B.blockProblems(b), []);
  });

  test('decodes a block as Calico writes it', () => {
    const calico = '{"cidr":"192.0.2.0/30","affinity":"host:node-a","allocations":[0,null,0,null],"unallocated":[3,1],' +
      '"attributes":[{"handle_id":"k8s-pod-network.abc","secondary":{"namespace":"default","node":"node-a","pod":"p"}}],' +
      '"deleted":false,"sequenceNumber":7,"sequenceNumberForAllocation":{"0":5,"2":6}}';
    const b = B.decodeBlock(calico);
    assert.equal(B.inUse(b), 2);
    assert.deepEqual(B.blockProblems(b), []);
    assert.equal(B.allocationAt(b, '192.0.2.2')?.handle, 'k8s-pod-network.abc');
    assert.equal(B.allocationAt(b, '192.0.2.2')?.sequenceNumber, 6);
    // Calico's free-list order is honoured.
    const { allocations } = B.autoAssign(b, 1, 'h', null);
    assert.equal(allocations[0].ip, '192.0.2.3');
  });

  test('refuses blocks too large to materialise', () => {
    assert.throws(() => B.newBlock(cidr('2001:db8::/100'), null), (e) => isWeftError(e));
  });
});

describe('autoAssign', () => {
  test('takes from the front of the free list, bumps sequence numbers, never mutates input', () => {
    const b0 = B.newBlock(cidr('192.0.2.0/29'), 'host:h1');
    const snapshot = JSON.stringify(b0);
    const { block, allocations } = B.autoAssign(b0, 3, 'h-a', { pod: 'a' });
    assert.equal(JSON.stringify(b0), snapshot);
    assert.deepEqual(allocations.map((a) => a.ip), ['192.0.2.0', '192.0.2.1', '192.0.2.2']);
    assert.deepEqual(allocations.map((a) => a.sequenceNumber), [1, 2, 3]);
    assert.equal(block.attributes.length, 1, 'one shared attribute for identical (handle, secondary)');
    assert.deepEqual(block.unallocated, [3, 4, 5, 6, 7]);
    assert.deepEqual(B.blockProblems(block), []);
  });

  test('returns fewer when the block runs out, none when full', () => {
    const { block, allocations } = B.autoAssign(B.newBlock(cidr('192.0.2.0/30'), null), 10, 'h', null);
    assert.equal(allocations.length, 4);
    const again = B.autoAssign(block, 1, 'h', null);
    assert.equal(again.allocations.length, 0);
    assert.equal(again.block, block);
  });

  test('skips reserved addresses and keeps them at their place in the free list', () => {
    const b = B.newBlock(cidr('192.0.2.0/29'), null);
    const reserved = new Set(['192.0.2.0', '192.0.2.2']);
    const { block, allocations } = B.autoAssign(b, 2, 'h', null, (ip) => reserved.has(ip));
    assert.deepEqual(allocations.map((a) => a.ip), ['192.0.2.1', '192.0.2.3']);
    assert.deepEqual(block.unallocated.slice(0, 2), [0, 2]);
    assert.equal(B.assignableCount(block, (ip) => reserved.has(ip)), 4);
  });

  test('IPv6 ordinals map to canonical text', () => {
    const { allocations } = B.autoAssign(B.newBlock(cidr('2001:db8::/122'), null), 2, 'h', null);
    assert.deepEqual(allocations.map((a) => a.ip), ['2001:db8::', '2001:db8::1']);
  });
});

describe('assignOrdinal', () => {
  test('assigns a specific address and refuses it when taken, naming the handle', () => {
    const b = B.newBlock(cidr('192.0.2.0/29'), null);
    const { block, allocation } = B.assignOrdinal(b, '192.0.2.5', 'container-1', null);
    assert.equal(allocation.ip, '192.0.2.5');
    assert.ok(!block.unallocated.includes(5));
    assert.throws(() => B.assignOrdinal(block, '192.0.2.5', 'container-2', null), (e: unknown) =>
      isWeftError(e, 'ERR_IPAM_IN_USE') && /container-1/.test((e as Error).message));
  });
});

describe('release', () => {
  test('is idempotent and puts released ordinals at the back of the free list', () => {
    const { block } = B.autoAssign(B.newBlock(cidr('192.0.2.0/29'), null), 3, 'h', null);
    const r1 = B.release(block, [{ ip: '192.0.2.0' }]);
    assert.deepEqual(r1.released.map((r) => r.ip), ['192.0.2.0']);
    assert.deepEqual(r1.block.unallocated, [3, 4, 5, 6, 7, 0]);
    const r2 = B.release(r1.block, [{ ip: '192.0.2.0' }]);
    assert.deepEqual(r2.notAllocated, ['192.0.2.0']);
    assert.equal(r2.block, r1.block, 'no-op release returns the same block');
    // Longest-free address is reused last: the next allocation is .3, not .0.
    assert.equal(B.autoAssign(r1.block, 1, 'x', null).allocations[0].ip, '192.0.2.3');
  });

  test('a stale sequence number cannot free a re-allocated address (ABA)', () => {
    const b0 = B.newBlock(cidr('192.0.2.0/30'), null);
    const first = B.assignOrdinal(b0, '192.0.2.1', 'old', null);
    const freed = B.release(first.block, [{ ip: '192.0.2.1', sequenceNumber: first.allocation.sequenceNumber }]);
    assert.equal(freed.released.length, 1);
    const second = B.assignOrdinal(freed.block, '192.0.2.1', 'new', null);
    assert.notEqual(second.allocation.sequenceNumber, first.allocation.sequenceNumber);
    const stale = B.release(second.block, [{ ip: '192.0.2.1', sequenceNumber: first.allocation.sequenceNumber }]);
    assert.equal(stale.released.length, 0);
    assert.equal(stale.stale.length, 1);
    assert.equal(B.allocationAt(stale.block, '192.0.2.1')?.handle, 'new');
    // Handle guard works the same way.
    assert.equal(B.release(second.block, [{ ip: '192.0.2.1', handle: 'old' }]).stale.length, 1);
  });

  test('releaseByHandle frees only that handle and compacts attributes', () => {
    let b = B.newBlock(cidr('192.0.2.0/29'), null);
    b = B.autoAssign(b, 2, 'a', { pod: 'a' }).block;
    b = B.autoAssign(b, 2, 'b', { pod: 'b' }).block;
    const r = B.releaseByHandle(b, 'a');
    assert.deepEqual(r.released.map((x) => x.ip), ['192.0.2.0', '192.0.2.1']);
    assert.equal(r.block.attributes.length, 1);
    assert.deepEqual(B.ipsForHandle(r.block, 'b'), ['192.0.2.2', '192.0.2.3']);
    assert.deepEqual(B.blockProblems(r.block), []);
    assert.deepEqual([...B.handleCounts(r.block)], [['b', 2]]);
  });
});

describe('blockProblems', () => {
  test('detects an ordinal both allocated and free', () => {
    const { block } = B.autoAssign(B.newBlock(cidr('192.0.2.0/30'), null), 1, 'h', null);
    const bad = { ...block, unallocated: [0, ...block.unallocated] };
    assert.ok(B.blockProblems(bad).some((p) => /both allocated and unallocated/.test(p)));
  });
});
