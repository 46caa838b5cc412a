import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../datastore/index.ts';
import { isWeftError } from '../lib/errors.ts';
import { ipamAssign, ipamCheck, ipamConfigure, ipamRelease, ipamShow } from './cli.ts';
import { deleteNode, putNode, putPool, putWorkloadEndpoint } from './fixtures.ts';
import { Ipam } from './ipam.ts';

async function setup(fn: (be: MemoryBackend, ipam: Ipam) => Promise<void>): Promise<void> {
  const be = new MemoryBackend();
  try {
    await fn(be, new Ipam(be));
  } finally {
    await be.close();
  }
}

describe('weft ipam show', () => {
  test('per pool usage, --show-blocks, --ip, --show-borrowed, --show-configuration', () => setup(async (be, ipam) => {
    await putPool(be, 'default-ipv4', '192.0.2.0/26');
    await putPool(be, 'default-ipv6', '2001:db8::/120');
    await ipam.autoAssign({ host: 'h1', handle: 'net.c1', num4: 16, num6: 1, attrs: { pod: 'web' } });
    await ipam.autoAssign({ host: 'h2', handle: 'net.c2', num4: 1 });
    const t = await ipamShow(ipam);
    assert.match(t, /default-ipv4\s+192\.0\.2\.0\/26\s+64\s+17 \(26\.5%\)\s+47 \(73\.4%\)/);
    assert.match(t, /default-ipv6\s+2001:db8::\/120\s+256\s+1 \(0\.3%\)/);
    const blocks = await ipamShow(ipam, { showBlocks: true });
    assert.match(blocks, /Block\s+192\.0\.2\.0\/26\s+h1\s+64\s+17/);
    const ip = await ipamShow(ipam, { ip: '192.0.2.0' });
    assert.match(ip, /handle:\s+net\.c1/);
    assert.match(ip, /affine to host h1/);
    assert.match(ip, /pod: web/);
    assert.match(await ipamShow(ipam, { ip: '192.0.2.63' }), /not assigned \(it is in pool default-ipv4/);
    assert.match(await ipamShow(ipam, { ip: '203.0.113.5' }), /not in any IP pool/);
    const borrowed = await ipamShow(ipam, { showBorrowed: true });
    assert.match(borrowed, /192\.0\.2\.16\s+h2\s+192\.0\.2\.0\/26\s+h1\s+net\.c2/);
    const cfg = await ipamShow(ipam, { showConfiguration: true });
    assert.match(cfg, /StrictAffinity\s+false/);
    assert.match(cfg, /MaxBlocksPerHost\s+0 \(default 20\)/);
    const json = JSON.parse(await ipamShow(ipam, { output: 'json' })) as { inUse: string }[];
    assert.equal(json[0].inUse, '17');
  }));
});

describe('weft ipam check / release', () => {
  test('finds leaks, unallocated endpoint addresses, blocks of deleted hosts; release --from-report cleans', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24');
    await putNode(be, 'h1');
    await putNode(be, 'h2');
    const used = await ipam.autoAssign({ host: 'h1', handle: 'net.used', num4: 1 });
    await putWorkloadEndpoint(be, 'default', 'h1-weft-used-eth0', 'h1', [`${used.ipv4[0].ip}/32`]);
    const leak = await ipam.autoAssign({ host: 'h1', handle: 'net.leak', num4: 1 });
    await ipam.autoAssign({ host: 'h2', handle: 'net.gone', num4: 1 });
    await putWorkloadEndpoint(be, 'default', 'h1-weft-ghost-eth0', 'h1', ['192.0.2.200/32']);
    await ipamAssign(ipam, { host: 'h1', ip: '192.0.2.250', handle: 'baremetal-1' });
    await deleteNode(be, 'h2');

    const { report, text } = await ipamCheck(ipam);
    assert.deepEqual(report.leakedIPs.map((x) => x.ip).sort(), [leak.ipv4[0].ip, (await ipam.ipsByHandle('net.gone'))[0]].sort());
    assert.deepEqual(report.unallocatedEndpointIPs.map((x) => x.ip), ['192.0.2.200']);
    assert.equal(report.blocksOfMissingHosts.length, 1);
    assert.equal(report.blocksOfMissingHosts[0].host, 'h2');
    assert.equal(report.summary.manual, 1);
    assert.match(text, /Leaked addresses \(allocated, no owner\): 2/);
    assert.match(text, /found 4 problem/);

    // A leak re-used between check and release is not touched (sequence numbers in the report).
    await ipam.releaseByHandle('net.leak');
    await ipamAssign(ipam, { host: 'h1', ip: leak.ipv4[0].ip, handle: 'reused' });
    const rel = await ipamRelease(ipam, { reports: [JSON.stringify(report)] });
    assert.equal(rel.result.released.length, 1);
    assert.equal(rel.result.stale.length, 1);
    assert.match(rel.text, /Skipped/);
    assert.equal((await ipam.getAssignment(leak.ipv4[0].ip))?.handle, 'reused');

    assert.match((await ipamRelease(ipam, { ip: '192.0.2.250' })).text, /Released 1 address/);
    assert.match((await ipamRelease(ipam, { ip: '192.0.2.250' })).text, /Not allocated/);
    await assert.rejects(ipamRelease(ipam, { ip: '192.0.2.1', handle: 'x' }), (e: unknown) => isWeftError(e, 'ERR_USAGE'));
    await assert.rejects(ipamRelease(ipam, { reports: ['{"kind":"Other"}'] }), (e: unknown) => isWeftError(e, 'ERR_VALIDATION'));
  }));

  test('clean store → clean report', () => setup(async (be, ipam) => {
    await putPool(be, 'p', '192.0.2.0/24');
    await putNode(be, 'h1');
    const r = await ipam.autoAssign({ host: 'h1', handle: 'x', num4: 3 });
    await ipamRelease(ipam, { handle: 'x' });
    assert.equal(r.ipv4.length, 3);
    const { report, text } = await ipamCheck(ipam);
    assert.equal(report.summary.problems, 0);
    assert.match(text, /no problems found/);
  }));
});

describe('weft ipam assign / configure', () => {
  test('assign by count and by address, text and json', () => setup(async (be, ipam) => {
    await putPool(be, 'p4', '192.0.2.0/24');
    await putPool(be, 'p6', '2001:db8::/120');
    const a = await ipamAssign(ipam, { host: 'bm1', ipv4: 2, ipv6: 1, handle: 'bm1-addrs', output: 'json' });
    const j = JSON.parse(a.text) as { handle: string; addresses: { ip: string }[] };
    assert.equal(j.handle, 'bm1-addrs');
    assert.equal(j.addresses.length, 3);
    const b = await ipamAssign(ipam, { host: 'bm1', ip: '192.0.2.77' });
    assert.match(b.text, /192\.0\.2\.77/);
    assert.match(b.handle, /^manual\.bm1\./);
    await assert.rejects(ipamAssign(ipam, { host: 'bm1', ip: '192.0.2.77' }), (e: unknown) => isWeftError(e, 'ERR_IPAM_IN_USE'));
  }));

  test('configure', () => setup(async (_be, ipam) => {
    const r = await ipamConfigure(ipam, { strictAffinity: 'true', maxBlocksPerHost: '4' });
    assert.deepEqual(r.config, { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 4 });
    assert.match(r.text, /StrictAffinity=true/);
    await assert.rejects(ipamConfigure(ipam, { strictAffinity: 'yes' }), (e: unknown) => isWeftError(e, 'ERR_USAGE'));
    await assert.rejects(ipamConfigure(ipam, { maxBlocksPerHost: '-3' }), (e: unknown) => isWeftError(e, 'ERR_USAGE'));
    await assert.rejects(ipamConfigure(ipam, {}), (e: unknown) => isWeftError(e, 'ERR_USAGE'));
  }));
});
