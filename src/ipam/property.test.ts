/**
 * Property tests: random sequences of assign/release over several hosts and pools, on the in-memory
 * backend, must keep IPAM's invariants after every step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryBackend } from '../datastore/index.ts';
import { isWeftError } from '../lib/errors.ts';
import { cidrContains, cidrOverlaps, parseCIDR, type CIDR } from '../lib/ip.ts';
import * as B from './block.ts';
import { checkIpam } from './check.ts';
import { gatherCheckInput } from './cli.ts';
import { putPool } from './fixtures.ts';
import { Ipam } from './ipam.ts';

const HOSTS = ['h0', 'h1', 'h2'];
const HANDLES = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];
// Small pools so exhaustion, new blocks and borrowing all happen within a short sequence.
const POOLS = [
  { name: 'a', cidr: '192.0.2.0/28', blockSize: 30 },
  { name: 'b', cidr: '198.51.100.0/29', blockSize: 30 },
  { name: 'c', cidr: '2001:db8::/124', blockSize: 126 },
];
const SPECIFIC = ['192.0.2.1', '192.0.2.6', '192.0.2.14', '198.51.100.3', '2001:db8::5', '2001:db8::f', '203.0.113.1'];

type Op =
  | { op: 'auto'; host: number; handle: number; n4: number; n6: number }
  | { op: 'ip'; host: number; handle: number; ip: number }
  | { op: 'release'; pick: number; twice: boolean; withSeq: boolean }
  | { op: 'releaseHandle'; handle: number }
  | { op: 'config'; strict: boolean; max: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('auto' as const), host: fc.nat(2), handle: fc.nat(5), n4: fc.nat(3), n6: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ip' as const), host: fc.nat(2), handle: fc.nat(5), ip: fc.nat(SPECIFIC.length - 1) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(1000), twice: fc.boolean(), withSeq: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('releaseHandle' as const), handle: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('config' as const), strict: fc.boolean(), max: fc.nat(3) }) },
);

interface Held {
  handle: string;
  host: string;
  seq: number;
}

async function invariants(ipam: Ipam, model: Map<string, Held>): Promise<void> {
  const input = await gatherCheckInput(ipam);
  const report = checkIpam(input);
  assert.deepEqual(report.corruptBlocks, [], 'blocks structurally consistent');
  assert.deepEqual(report.handleMismatches, [], 'handle counts match block allocations');
  assert.deepEqual(report.blocksOutsidePools, [], 'blocks inside pools');
  assert.deepEqual(report.danglingAffinities, [], 'affinities match blocks');
  const pools = POOLS.map((p) => parseCIDR(p.cidr) as CIDR);
  const blocks = input.blocks.map((b) => B.blockCIDR(b));
  for (const c of blocks) assert.ok(pools.some((p) => cidrContains(p, c)));
  for (let i = 0; i < blocks.length; i++) for (let j = i + 1; j < blocks.length; j++) assert.ok(!cidrOverlaps(blocks[i], blocks[j]), 'blocks overlap');
  // Exactly the model's addresses are allocated, each once, to the right handle.
  const stored = new Map<string, string | null>();
  for (const b of input.blocks) {
    for (const a of B.allocationsOf(b)) {
      assert.ok(!stored.has(a.ip), `${a.ip} allocated twice`);
      stored.set(a.ip, a.handle);
    }
  }
  assert.deepEqual(new Map([...stored].sort()), new Map([...model].map(([ip, h]) => [ip, h.handle] as [string, string]).sort()));
}

test('random assign/release sequences keep IPAM invariants', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 2 ** 31 }), async (ops, seed) => {
      const be = new MemoryBackend();
      let s = seed;
      const random = (): number => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        return s / 2 ** 32;
      };
      // Both write paths: the atomic txn (odd seeds) and the two-write fallback (even seeds).
      const ipam = new Ipam(be, { random, useTxn: seed % 2 === 1 });
      const model = new Map<string, Held>();
      let strict = false;
      try {
        for (const p of POOLS) await putPool(be, p.name, p.cidr, { blockSize: p.blockSize });
        for (const o of ops) {
          if (o.op === 'auto') {
            const host = HOSTS[o.host];
            const handle = HANDLES[o.handle];
            if (o.n4 + o.n6 === 0) continue;
            try {
              const r = await ipam.autoAssign({ host, handle, num4: o.n4, num6: o.n6 });
              assert.equal(r.ipv4.length, o.n4);
              assert.equal(r.ipv6.length, o.n6);
              for (const a of [...r.ipv4, ...r.ipv6]) {
                assert.ok(!model.has(a.ip), `${a.ip} handed out while held`);
                if (strict) assert.equal(a.borrowed, false, 'strict affinity never borrows');
                model.set(a.ip, { handle, host, seq: a.sequenceNumber });
              }
            } catch (e) {
              if (!isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED')) throw e;
            }
          } else if (o.op === 'ip') {
            const ip = SPECIFIC[o.ip];
            const handle = HANDLES[o.handle];
            try {
              const a = await ipam.assignIP({ ip, host: HOSTS[o.host], handle });
              assert.ok(!model.has(ip));
              model.set(ip, { handle, host: HOSTS[o.host], seq: a.sequenceNumber });
            } catch (e) {
              if (isWeftError(e, 'ERR_IPAM_IN_USE')) assert.ok(model.has(ip), 'refused as taken only when taken');
              else if (isWeftError(e, 'ERR_IPAM_NO_POOL')) assert.equal(ip, '203.0.113.1');
              else throw e;
            }
          } else if (o.op === 'release') {
            const held = [...model.keys()].sort();
            if (held.length === 0) continue;
            const ip = held[o.pick % held.length];
            const req = o.withSeq ? { ip, sequenceNumber: model.get(ip)!.seq } : ip;
            const r = await ipam.releaseIPs([req]);
            assert.deepEqual(r.released.map((x) => x.ip), [ip]);
            model.delete(ip);
            if (o.twice) {
              const again = await ipam.releaseIPs([req]);
              assert.equal(again.released.length, 0, 'second release is a no-op');
            }
          } else if (o.op === 'releaseHandle') {
            const handle = HANDLES[o.handle];
            const expected = [...model].filter(([, h]) => h.handle === handle).map(([ip]) => ip).sort();
            const r = await ipam.releaseByHandle(handle);
            assert.deepEqual(r.released.map((x) => x.ip).sort(), expected);
            for (const ip of expected) model.delete(ip);
            assert.equal((await ipam.releaseByHandle(handle)).released.length, 0);
          } else {
            strict = o.strict;
            await ipam.setConfig({ strictAffinity: o.strict, maxBlocksPerHost: o.max });
          }
          await invariants(ipam, model);
        }
      } finally {
        await be.close();
      }
    }),
    { numRuns: 150 },
  );
});

test('block operations: random assign/release keeps every block invariant', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.record({ t: fc.constant('a' as const), n: fc.nat(5), h: fc.nat(3) }), fc.record({ t: fc.constant('r' as const), o: fc.nat(15) })), { maxLength: 60 }),
      (steps) => {
        let b = B.newBlock(parseCIDR('192.0.2.0/28') as CIDR, 'host:x');
        const held = new Set<string>();
        for (const st of steps) {
          if (st.t === 'a') {
            const before = B.freeCount(b);
            const r = B.autoAssign(b, st.n, `h${st.h}`, null);
            assert.equal(r.allocations.length, Math.min(st.n, before));
            for (const a of r.allocations) {
              assert.ok(!held.has(a.ip));
              held.add(a.ip);
            }
            b = r.block;
          } else {
            const ip = B.ipOf(b, st.o);
            const r = B.release(b, [{ ip }]);
            assert.equal(r.released.length, held.has(ip) ? 1 : 0);
            held.delete(ip);
            b = r.block;
            // Released address goes to the back of the free list.
            if (r.released.length === 1) assert.equal(b.unallocated[b.unallocated.length - 1], st.o);
          }
          assert.deepEqual(B.blockProblems(b), []);
          assert.equal(B.inUse(b), held.size);
        }
      },
    ),
    { numRuns: 300 },
  );
});
