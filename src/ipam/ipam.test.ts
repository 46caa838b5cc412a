import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { MemoryBackend, ipamAffinityKey, ipamBlockKey, ipamHandleKey, type Backend } from '../datastore/index.ts';
import { isWeftError } from '../lib/errors.ts';
import * as B from './block.ts';
import { putNode, putPool, putReservation } from './fixtures.ts';
import { Ipam } from './ipam.ts';
import { decodeAffinity, decodeHandle, encodeAffinity } from './model.ts';

async function setup(fn: (be: MemoryBackend, ipam: Ipam) => Promise<void>): Promise<void> {
  const be = new MemoryBackend();
  try {
    await fn(be, new Ipam(be, { random: seeded(42) }));
  } finally {
    await be.close();
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

async function blockOf(be: Backend, cidr: string): Promise<B.Block | undefined> {
  const kv = await be.get(ipamBlockKey(cidr));
  return kv === undefined ? undefined : B.decodeBlock(kv.value);
}

describe('auto-assign', () => {
  test('claims a block with the two-phase affinity and writes Calico keys', () => setup(async (be, ipam) => {
    await putPool(be, 'p4', '192.0.2.0/24');
    await putPool(be, 'p6', '2001:db8:1::/120');
    const r = await ipam.autoAssign({ host: 'h1', handle: 'net.c1', num4: 2, num6: 1, attrs: { pod: 'c1', namespace: 'default' } });
    assert.equal(r.ipv4.length, 2);
    assert.equal(r.ipv6.length, 1);
    const blk4 = r.ipv4[0].block;
    assert.match(blk4, /^192\.0\.2\.\d+\/26$/);
    assert.match(r.ipv6[0].block, /^2001:db8:1::[0-9a-f]*\/122$/);
    // Affinity confirmed, block affine to host, handle counts.
    const aff = await be.get(ipamAffinityKey('h1', blk4));
    assert.equal(decodeAffinity(aff!.value).state, 'confirmed');
    assert.equal((await blockOf(be, blk4))!.affinity, 'host:h1');
    const h = decodeHandle((await be.get(ipamHandleKey('net.c1')))!.value);
    assert.deepEqual(h.block, { [blk4]: 2, [r.ipv6[0].block]: 1 });
    const info = await ipam.getAssignment(r.ipv4[0].ip);
    assert.equal(info?.handle, 'net.c1');
    assert.equal(info?.host, 'h1');
    assert.equal(info?.attrs.pod, 'c1');
    assert.equal(info?.attrs.node, 'h1');
  }));

  test('uses own blocks first, claims another when full, up to maxBlocksPerHost', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24', { blockSize: 29 });
    await ipam.setConfig({ maxBlocksPerHost: 2, strictAffinity: true });
    const a = await ipam.autoAssign({ host: 'h1', handle: 'a', num4: 8 });
    assert.equal(new Set(a.ipv4.map((x) => x.block)).size, 1, 'one /29 holds 8');
    const b = await ipam.autoAssign({ host: 'h1', handle: 'b', num4: 8 });
    assert.equal(new Set(b.ipv4.map((x) => x.block)).size, 1);
    assert.notEqual(b.ipv4[0].block, a.ipv4[0].block);
    await assert.rejects(ipam.autoAssign({ host: 'h1', handle: 'c', num4: 1 }), (e: unknown) =>
      isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED') && /pool exhausted for host h1/.test((e as Error).message));
    // Nothing leaked by the failed request.
    assert.equal(await be.get(ipamHandleKey('c')), undefined);
    // After a release the freed address is reused from the host's own block.
    await ipam.releaseIPs([a.ipv4[3].ip]);
    const c = await ipam.autoAssign({ host: 'h1', handle: 'c', num4: 1 });
    assert.equal(c.ipv4[0].ip, a.ipv4[3].ip);
  }));

  test('a request spanning blocks is all-or-nothing', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/28', { blockSize: 30 });
    await ipam.setConfig({ strictAffinity: true });
    await assert.rejects(ipam.autoAssign({ host: 'h1', handle: 'big', num4: 17 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED'));
    const blocks = await ipam.listBlocks('ipv4');
    assert.equal(blocks.reduce((n, s) => n + B.inUse(s.block), 0), 0);
    assert.equal(await be.get(ipamHandleKey('big')), undefined);
    const ok = await ipam.autoAssign({ host: 'h1', handle: 'ok', num4: 16 });
    assert.equal(new Set(ok.ipv4.map((x) => x.ip)).size, 16);
  }));

  test('no pool → IPAM_NO_POOL with a hint', () => setup(async (_be, ipam) => {
    await assert.rejects(ipam.autoAssign({ host: 'h1', handle: 'x', num4: 1 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_NO_POOL') && /no enabled IPv4 pool/.test((e as Error).message));
  }));

  test('pools filtered by nodeSelector, disabled and allowedUses', () => setup(async (be, ipam) => {
    await putPool(be, 'rack1', '192.0.2.0/26', { nodeSelector: "rack == 'r1'", allowedUses: ['Workload'] });
    await putPool(be, 'rack2', '198.51.100.0/26', { nodeSelector: "rack == 'r2'", allowedUses: ['Workload'] });
    await putPool(be, 'off', '203.0.113.0/26', { disabled: true });
    await putPool(be, 'tunnels', '203.0.113.64/26', { allowedUses: ['Tunnel'] });
    await putNode(be, 'n1', { rack: 'r1' });
    await putNode(be, 'n2', { rack: 'r2' });
    const a = await ipam.autoAssign({ host: 'n1', handle: 'a', num4: 1 });
    assert.equal(a.ipv4[0].pool, 'rack1');
    const b = await ipam.autoAssign({ host: 'n2', handle: 'b', num4: 1 });
    assert.equal(b.ipv4[0].pool, 'rack2');
    const t = await ipam.autoAssign({ host: 'n2', handle: 'ipip-tunnel-addr-n2', num4: 1, use: 'Tunnel' });
    assert.equal(t.ipv4[0].pool, 'tunnels');
    // A host matching no selector gets nothing.
    await assert.rejects(ipam.autoAssign({ host: 'n3', handle: 'c', num4: 1 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_NO_POOL'));
    // Explicitly requesting a disabled pool says so.
    await assert.rejects(ipam.autoAssign({ host: 'n1', handle: 'd', num4: 1, pools4: ['off'] }), (e: unknown) => isWeftError(e, 'ERR_IPAM_NO_POOL') && /disabled/.test((e as Error).message));
    const r = await ipam.autoAssign({ host: 'n1', handle: 'e', num4: 1, pools4: ['192.0.2.0/26'] });
    assert.equal(r.ipv4[0].pool, 'rack1');
  }));

  test('auto-assign skips reserved addresses', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/29', { blockSize: 29 });
    await putReservation(be, 'gw', ['192.0.2.0/31', '192.0.2.7']);
    const r = await ipam.autoAssign({ host: 'h', handle: 'x', num4: 5 });
    assert.deepEqual(r.ipv4.map((a) => a.ip), ['192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '192.0.2.6']);
    await assert.rejects(ipam.autoAssign({ host: 'h', handle: 'y', num4: 1 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED'));
  }));

  test('blocks wholly inside a reservation are never claimed', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24');
    await putReservation(be, 'low', ['192.0.2.0/25']);
    const r = await ipam.autoAssign({ host: 'h', handle: 'x', num4: 70 });
    assert.ok(r.ipv4.every((a) => Number(a.ip.split('.')[3]) >= 128), 'only the upper half');
    await putReservation(be, 'all', ['192.0.2.0/24']);
    await assert.rejects(ipam.autoAssign({ host: 'h2', handle: 'y', num4: 1 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED'));
    assert.equal((await ipam.listBlocks('ipv4')).length, 2);
  }));

  test('repairs a pending affinity left by an interrupted claim', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/26');
    // Crash after phase 1: a pending affinity and no block.
    await be.create(ipamAffinityKey('h1', '192.0.2.0/26'), encodeAffinity({ state: 'pending', deleted: false }));
    const r = await ipam.autoAssign({ host: 'h1', handle: 'x', num4: 1 });
    assert.equal(r.ipv4[0].block, '192.0.2.0/26');
    assert.equal(decodeAffinity((await be.get(ipamAffinityKey('h1', '192.0.2.0/26')))!.value).state, 'confirmed');
  }));

  test('a pending affinity for a block another host owns is withdrawn', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/25');
    await ipam.autoAssign({ host: 'h2', handle: 'y', num4: 1 });
    const owned = (await ipam.listBlocks('ipv4'))[0].block.cidr;
    await be.create(ipamAffinityKey('h1', owned), encodeAffinity({ state: 'pending', deleted: false }));
    const r = await ipam.autoAssign({ host: 'h1', handle: 'x', num4: 1 });
    assert.notEqual(r.ipv4[0].block, owned);
    assert.equal(await be.get(ipamAffinityKey('h1', owned)), undefined);
  }));
});

describe('strict affinity on a /26 pool with 3 hosts', () => {
  for (const strict of [true, false]) {
    test(`strictAffinity=${strict}`, () => setup(async (be, ipam) => {
      // Default block size: the /26 pool is exactly one block.
      await putPool(be, 'small', '192.0.2.0/26');
      await ipam.setConfig({ strictAffinity: strict });
      const h1 = await ipam.autoAssign({ host: 'h1', handle: 'w1', num4: 1 });
      assert.equal(h1.ipv4[0].borrowed, false);
      if (strict) {
        for (const h of ['h2', 'h3']) {
          await assert.rejects(ipam.autoAssign({ host: h, handle: `w-${h}`, num4: 1 }), (e: unknown) =>
            isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED') && new RegExp(`pool exhausted for host ${h}`).test((e as Error).message));
        }
      } else {
        const h2 = await ipam.autoAssign({ host: 'h2', handle: 'w-h2', num4: 1 });
        const h3 = await ipam.autoAssign({ host: 'h3', handle: 'w-h3', num4: 1 });
        assert.equal(h2.ipv4[0].borrowed, true);
        assert.equal(h3.ipv4[0].borrowed, true);
        assert.equal(h2.ipv4[0].block, '192.0.2.0/26');
        // Borrowing does not move the block's affinity.
        assert.equal((await blockOf(be, '192.0.2.0/26'))!.affinity, 'host:h1');
        // The rest of the pool can still be filled by all three, and no more.
        const rest = await ipam.autoAssign({ host: 'h3', handle: 'rest', num4: 61 });
        assert.equal(rest.ipv4.length, 61);
        await assert.rejects(ipam.autoAssign({ host: 'h2', handle: 'more', num4: 1 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED'));
      }
    }));
  }

  test('with /28 blocks each host gets its own block; strict refuses a 5th block, non-strict borrows', () => setup(async (be, ipam) => {
    await putPool(be, 'small', '192.0.2.0/26', { blockSize: 28 });
    await ipam.setConfig({ strictAffinity: true });
    const seen = new Map<string, string>();
    for (const h of ['h1', 'h2', 'h3']) {
      const r = await ipam.autoAssign({ host: h, handle: `first-${h}`, num4: 1 });
      seen.set(h, r.ipv4[0].block);
    }
    assert.equal(new Set(seen.values()).size, 3);
    // h1 fills its block and claims the 4th, then the pool has no free block.
    await ipam.autoAssign({ host: 'h1', handle: 'fill', num4: 31 });
    await assert.rejects(ipam.autoAssign({ host: 'h1', handle: 'x', num4: 1 }), (e: unknown) => /pool exhausted for host h1/.test((e as Error).message));
    await ipam.setConfig({ strictAffinity: false });
    const b = await ipam.autoAssign({ host: 'h1', handle: 'x', num4: 1 });
    assert.equal(b.ipv4[0].borrowed, true);
    assert.notEqual(b.ipv4[0].block, seen.get('h1'));
  }));
});

describe('assign a specific address', () => {
  test('assigns, and refuses clearly: taken, reserved, outside pools, disabled pool', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24');
    await putPool(be, 'off', '198.51.100.0/24', { disabled: true });
    await putReservation(be, 'r', ['192.0.2.250/31']);
    const a = await ipam.assignIP({ ip: '192.0.2.2', host: 'h1', handle: 'docker.c1' });
    assert.equal(a.ip, '192.0.2.2');
    assert.equal(a.block, '192.0.2.0/26');
    assert.equal((await blockOf(be, '192.0.2.0/26'))!.affinity, 'host:h1');
    await assert.rejects(ipam.assignIP({ ip: '192.0.2.2', host: 'h2', handle: 'docker.c2' }), (e: unknown) =>
      isWeftError(e, 'ERR_IPAM_IN_USE') && /docker\.c1/.test((e as Error).message));
    assert.equal(await be.get(ipamHandleKey('docker.c2')), undefined, 'refused assignment leaves no handle');
    await assert.rejects(ipam.assignIP({ ip: '192.0.2.251', host: 'h1', handle: 'x' }), (e: unknown) => isWeftError(e, 'ERR_IPAM_RESERVED'));
    await assert.rejects(ipam.assignIP({ ip: '203.0.113.9', host: 'h1', handle: 'x' }), (e: unknown) =>
      isWeftError(e, 'ERR_IPAM_NO_POOL') && /not in any configured IP pool/.test((e as Error).message));
    await assert.rejects(ipam.assignIP({ ip: '198.51.100.9', host: 'h1', handle: 'x' }), (e: unknown) =>
      isWeftError(e, 'ERR_IPAM_NO_POOL') && /disabled/.test((e as Error).message));
    await assert.rejects(ipam.assignIP({ ip: 'nonsense', host: 'h1', handle: 'x' }), (e: unknown) => isWeftError(e, 'ERR_VALIDATION'));
    // Into a block affine to another host: allowed, and auto-assign for h1 still skips the taken one.
    const b = await ipam.assignIP({ ip: '192.0.2.3', host: 'h2', handle: 'docker.c3' });
    assert.equal(b.borrowed, true);
    const r = await ipam.autoAssign({ host: 'h1', handle: 'auto', num4: 3 });
    assert.deepEqual(r.ipv4.map((x) => x.ip), ['192.0.2.0', '192.0.2.1', '192.0.2.4']);
  }));
});

describe('release', () => {
  test('by address and by handle, idempotent, handle index kept exact', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24');
    const r = await ipam.autoAssign({ host: 'h1', handle: 'a', num4: 3 });
    const rel = await ipam.releaseIPs([r.ipv4[0].ip]);
    assert.deepEqual(rel.released.map((x) => x.ip), [r.ipv4[0].ip]);
    assert.deepEqual((await ipam.releaseIPs([r.ipv4[0].ip])).notAllocated, [r.ipv4[0].ip]);
    assert.deepEqual(decodeHandle((await be.get(ipamHandleKey('a')))!.value).block, { [r.ipv4[0].block]: 2 });
    assert.deepEqual((await ipam.ipsByHandle('a')).sort(), [r.ipv4[1].ip, r.ipv4[2].ip].sort());
    const byHandle = await ipam.releaseByHandle('a');
    assert.equal(byHandle.released.length, 2);
    assert.equal(await be.get(ipamHandleKey('a')), undefined);
    assert.equal((await ipam.releaseByHandle('a')).released.length, 0);
    // Address outside any block or pool: reported, not an error.
    assert.deepEqual((await ipam.releaseIPs(['203.0.113.1'])).notAllocated, ['203.0.113.1']);
    // Blocks stay (affine, empty) for the host's next workloads.
    assert.equal((await ipam.listBlocks('ipv4')).length, 1);
  }));

  test('a stale release (old sequence number) does not free the new owner', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/30', { blockSize: 30 });
    const first = await ipam.assignIP({ ip: '192.0.2.1', host: 'h', handle: 'old' });
    await ipam.releaseIPs([{ ip: '192.0.2.1', sequenceNumber: first.sequenceNumber }]);
    const second = await ipam.assignIP({ ip: '192.0.2.1', host: 'h', handle: 'new' });
    const stale = await ipam.releaseIPs([{ ip: '192.0.2.1', sequenceNumber: first.sequenceNumber }]);
    assert.equal(stale.released.length, 0);
    assert.equal(stale.stale.length, 1);
    assert.equal((await ipam.getAssignment('192.0.2.1'))?.handle, 'new');
    assert.equal((await ipam.releaseIPs([{ ip: '192.0.2.1', sequenceNumber: second.sequenceNumber }])).released.length, 1);
  }));
});

describe('pool deletion', () => {
  test('releases empty affinities; refuses with a count while in use unless forced', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24', { blockSize: 28 });
    await putPool(be, 'other', '198.51.100.0/24');
    const a = await ipam.autoAssign({ host: 'h1', handle: 'a', num4: 20, pools4: ['p'] });
    await ipam.autoAssign({ host: 'h2', handle: 'b', num4: 1, pools4: ['p'] });
    await ipam.autoAssign({ host: 'h2', handle: 'o', num4: 1, pools4: ['other'] });
    await assert.rejects(ipam.releasePoolAffinities('p'), (e: unknown) =>
      isWeftError(e, 'ERR_IPAM_IN_USE') && /21 address\(es\) in use/.test((e as Error).message));
    await ipam.releaseByHandle('b');
    await ipam.releaseIPs(a.ipv4.slice(0, 5).map((x) => x.ip));
    const forced = await ipam.releasePoolAffinities('p', { force: true });
    assert.equal(forced.addressesReleased, 15);
    assert.equal(forced.blocksReleased, 3);
    assert.equal(await be.get(ipamHandleKey('a')), undefined, 'forced release fixes the handles');
    const left = await ipam.listAffinities();
    assert.equal(left.length, 1);
    assert.match(left[0].cidr, /^198\.51\.100\./);
    assert.equal((await ipam.listBlocks('ipv4')).length, 1);
  }));

  test('empty pool: affinities and blocks go without force', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24');
    await ipam.autoAssign({ host: 'h1', handle: 'a', num4: 1 });
    await ipam.releaseByHandle('a');
    const r = await ipam.releasePoolAffinities('p');
    assert.deepEqual(r, { blocksReleased: 1, affinitiesReleased: 1, addressesReleased: 0 });
    assert.equal((await ipam.listAffinities()).length, 0);
  }));
});

describe('host removal', () => {
  test('releaseHostAffinities: empty blocks go; used blocks lose only their affinity (borrowable, kept)', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24', { blockSize: 28 });
    const keep = await ipam.autoAssign({ host: 'gone', handle: 'k', num4: 1 });
    await ipam.autoAssign({ host: 'gone', handle: 'tmp', num4: 16 });
    await ipam.releaseByHandle('tmp');
    const r = await ipam.releaseHostAffinities('gone');
    assert.equal(r.affinitiesReleased, 2);
    assert.equal(r.blocksReleased, 1);
    const blocks = await ipam.listBlocks('ipv4');
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0].block.affinity, null);
    assert.equal((await ipam.getAssignment(keep.ipv4[0].ip))?.handle, 'k');
    // When its last address is released, an affinity-less block is deleted.
    await ipam.releaseByHandle('k');
    assert.equal((await ipam.listBlocks('ipv4')).length, 0);
  }));
});

describe('configuration', () => {
  test('defaults, set, Calico field names', () => setup(async (be, ipam) => {
    assert.deepEqual(await ipam.getConfig(), { strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0 });
    await ipam.setConfig({ strictAffinity: true, maxBlocksPerHost: 5 });
    const raw = JSON.parse((await be.get('/calico/ipam/v2/config'))!.value) as Record<string, unknown>;
    assert.deepEqual(raw, { strict_affinity: true, auto_allocate_blocks: true, maxBlocksPerHost: 5 });
    await assert.rejects(ipam.setConfig({ maxBlocksPerHost: -1 }), (e: unknown) => isWeftError(e, 'ERR_VALIDATION'));
  }));

  test('autoAllocateBlocks=false: no new blocks; strict → exhausted', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24');
    await ipam.setConfig({ autoAllocateBlocks: false, strictAffinity: true });
    await assert.rejects(ipam.autoAssign({ host: 'h', handle: 'x', num4: 1 }), (e: unknown) =>
      isWeftError(e, 'ERR_IPAM_POOL_EXHAUSTED') && /automatic block allocation is off/.test((e as Error).message));
  }));
});

describe('concurrency in one process', () => {
  test('parallel auto-assigns from several hosts never hand out an address twice', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '2001:db8::/120', { blockSize: 124 });
    const jobs: Promise<unknown>[] = [];
    const got: string[] = [];
    for (let i = 0; i < 200; i++) {
      jobs.push(ipam.autoAssign({ host: `h${i % 4}`, handle: `w${i}`, num6: 1 }).then((r) => got.push(r.ipv6[0].ip)));
    }
    await Promise.all(jobs);
    assert.equal(new Set(got).size, 200);
    const blocks = await ipam.listBlocks('ipv6');
    for (const s of blocks) assert.deepEqual(B.blockProblems(s.block), []);
    assert.equal(blocks.reduce((n, s) => n + B.inUse(s.block), 0), 200);
  }));
});

describe('context cache and metrics', () => {
  test('without a cache a disabled pool is honoured at once; with one, after clearCache/setConfig', () => setup(async (be) => {
    await putPool(be, 'p', '192.0.2.0/24');
    const fresh = new Ipam(be);
    const cached = new Ipam(be, { contextCacheMs: 60_000 });
    await fresh.autoAssign({ host: 'h', handle: 'a', num4: 1 });
    await cached.autoAssign({ host: 'h', handle: 'b', num4: 1 });
    await putPool(be, 'p', '192.0.2.0/24', { disabled: true });
    await assert.rejects(fresh.autoAssign({ host: 'h', handle: 'c', num4: 1 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_NO_POOL'));
    await cached.autoAssign({ host: 'h', handle: 'd', num4: 1 }); // documented staleness window
    await cached.setConfig({ strictAffinity: false });
    await assert.rejects(cached.autoAssign({ host: 'h', handle: 'e', num4: 1 }), (e: unknown) => isWeftError(e, 'ERR_IPAM_NO_POOL'));
  }));

  test('exports weft_ipam_* metrics', () => setup(async (be) => {
    const registry = new Registry();
    const ipam = new Ipam(be, { registry });
    await putPool(be, 'p', '192.0.2.0/24');
    await ipam.autoAssign({ host: 'h', handle: 'a', num4: 3 });
    await ipam.releaseByHandle('a');
    await assert.rejects(ipam.assignIP({ ip: '203.0.113.1', host: 'h', handle: 'x' }));
    const text = await registry.metrics();
    assert.match(text, /weft_ipam_addresses_assigned_total 3/);
    assert.match(text, /weft_ipam_addresses_released_total 3/);
    assert.match(text, /weft_ipam_blocks_claimed_total 1/);
    assert.match(text, /weft_ipam_assign_failures_total\{code="ERR_IPAM_NO_POOL"\} 1/);
  }));
});

describe('claim races', () => {
  test('two hosts picking the same free block at once: one wins, the other claims another, no stray affinity', () => setup(async (be) => {
    await putPool(be, 'p', '192.0.2.0/26', { blockSize: 28 });
    // random() = 0: both start the free-block scan at the same block.
    const a = new Ipam(be, { random: () => 0 });
    const b = new Ipam(be, { random: () => 0 });
    const [ra, rb] = await Promise.all([
      a.autoAssign({ host: 'ha', handle: 'x', num4: 1 }),
      b.autoAssign({ host: 'hb', handle: 'y', num4: 1 }),
    ]);
    assert.notEqual(ra.ipv4[0].block, rb.ipv4[0].block);
    assert.equal(ra.ipv4[0].borrowed || rb.ipv4[0].borrowed, false);
    const affs = await a.listAffinities();
    assert.deepEqual(affs.map((x) => `${x.host} ${x.cidr} ${x.affinity.state}`).sort(), [
      `ha ${ra.ipv4[0].block} confirmed`,
      `hb ${rb.ipv4[0].block} confirmed`,
    ].sort());
  }));

  test('a pool release racing a stale affinity listing does not resurrect the block', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/26');
    await ipam.autoAssign({ host: 'h1', handle: 'a', num4: 1 });
    await ipam.releaseByHandle('a');
    const other = new Ipam(be);
    await other.releasePoolAffinities('p');
    // `ipam` still has the block cached as its own; the next request must not recreate it blindly.
    const r = await ipam.autoAssign({ host: 'h1', handle: 'b', num4: 1 });
    const blocks = await ipam.listBlocks('ipv4');
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0].block.affinity, 'host:h1');
    assert.equal(r.ipv4[0].block, blocks[0].block.cidr);
    const affs = await ipam.listAffinities();
    assert.deepEqual(affs.map((x) => x.affinity.state), ['confirmed']);
  }));
});

describe('atomic block+handle writes (backend txn)', () => {
  /** Counts the datastore writes an Ipam makes. */
  function counting(be: MemoryBackend): { backend: Backend; writes: string[] } {
    const writes: string[] = [];
    const backend = Object.create(be) as Backend;
    for (const m of ['create', 'update', 'put', 'delete', 'txn'] as const) {
      const orig = (be[m] as (...a: unknown[]) => Promise<unknown>).bind(be);
      Object.assign(backend, { [m]: (...a: unknown[]) => { writes.push(m); return orig(...a); } });
    }
    for (const m of ['get', 'list', 'revision', 'watch', 'deletePrefix', 'close'] as const) {
      Object.assign(backend, { [m]: (be[m] as (...a: unknown[]) => unknown).bind(be) });
    }
    return { backend, writes };
  }

  test('a warm allocation and a release are one write each; the handle always matches the block', () => setup(async (be) => {
    await putPool(be, 'p6', '2001:db8:7::/120', { blockSize: 124 });
    const { backend, writes } = counting(be);
    const ipam = new Ipam(backend, { random: seeded(7), contextCacheMs: 60_000 });
    await ipam.autoAssign({ host: 'h1', handle: 'w0', num6: 1 });
    assert.deepEqual(writes, ['txn', 'txn'], 'claim (affinity+block) and allocation (block+handle): one txn each');
    writes.length = 0;
    const r = await ipam.autoAssign({ host: 'h1', handle: 'w1', num6: 1 });
    assert.deepEqual(writes, ['txn']);
    assert.deepEqual(decodeHandle((await be.get(ipamHandleKey('w1')))!.value).block, { [r.ipv6[0].block]: 1 });
    assert.equal(decodeAffinity((await be.get(ipamAffinityKey('h1', r.ipv6[0].block)))!.value).state, 'confirmed');
    writes.length = 0;
    await ipam.releaseIPs([r.ipv6[0].ip]);
    assert.deepEqual(writes, ['txn']);
    assert.equal(await be.get(ipamHandleKey('w1')), undefined, 'last address released: handle deleted in the same write');
  }));

  test('a stale cached handle is re-read and the allocation still lands once', () => setup(async (be) => {
    await putPool(be, 'p4', '192.0.2.0/26', { blockSize: 28 });
    const a = new Ipam(be, { random: seeded(1) });
    const b = new Ipam(be, { random: seeded(2) });
    const r1 = await a.autoAssign({ host: 'h1', handle: 'shared', num4: 1 });
    // Another process changes the handle behind a's cache.
    const r2 = await b.autoAssign({ host: 'h2', handle: 'shared', num4: 1 });
    const r3 = await a.autoAssign({ host: 'h1', handle: 'shared', num4: 1 });
    const h = decodeHandle((await be.get(ipamHandleKey('shared')))!.value);
    const counts = new Map<string, number>();
    for (const x of [r1, r2, r3]) counts.set(x.ipv4[0].block, (counts.get(x.ipv4[0].block) ?? 0) + 1);
    assert.deepEqual(h.block, Object.fromEntries(counts));
    const rel = await a.releaseByHandle('shared');
    assert.equal(rel.released.length, 3);
    assert.equal(await be.get(ipamHandleKey('shared')), undefined);
  }));

  test('a claim that loses the block race writes nothing (no pending affinity to withdraw)', () => setup(async (be) => {
    await putPool(be, 'p4', '192.0.2.0/28', { blockSize: 28 });
    const a = new Ipam(be, { random: () => 0 });
    const b = new Ipam(be, { random: () => 0 });
    await a.autoAssign({ host: 'h1', handle: 'x1', num4: 1 });
    const r = await b.autoAssign({ host: 'h2', handle: 'x2', num4: 1 });
    assert.equal(r.ipv4[0].borrowed, true);
    assert.equal(await be.get(ipamAffinityKey('h2', '192.0.2.0/28')), undefined);
  }));
});

