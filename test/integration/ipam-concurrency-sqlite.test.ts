/**
 * IPAM under real contention: 4 processes acting as 4 hosts each allocate 500 addresses at the same
 * time from one SQLite file. No address twice, every acknowledged allocation stored, nothing leaked.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBackend } from '../../src/datastore/index.ts';
import { Ipam, ipamCheck, putNode, putPool } from '../../src/ipam/index.ts';
import { IpamWorkers, verifyAgainstStore } from './ipam-harness.ts';

const HOSTS = ['host-0', 'host-1', 'host-2', 'host-3'];
const PER_HOST = 500;

const dir = mkdtempSync(join(tmpdir(), 'weft-ipam-sqlite-'));
let workers: IpamWorkers | undefined;
after(() => {
  workers?.kill();
  rmSync(dir, { recursive: true, force: true });
});

test('4 host processes × 500 allocations on SQLite: 2000 distinct, none leaked', { timeout: 300_000 }, async () => {
  const path = join(dir, 'weft.db');
  const backend = new SqliteBackend({ path });
  try {
    const ipam = new Ipam(backend);
    // 4096 addresses in /122 blocks of 64: each host needs 8 blocks, claimed while the others claim too.
    await putPool(backend, 'v6', '2001:db8:1::/116', { blockSize: 122 });
    for (const h of HOSTS) await putNode(backend, h);

    workers = await IpamWorkers.start(HOSTS.map((host) => ({ backend: { type: 'sqlite', path }, host, count: PER_HOST, handlePrefix: `wl-${host}`, family: 6 })));
    const done = await workers.run();
    assert.deepEqual(done.map((d) => d.count), [PER_HOST, PER_HOST, PER_HOST, PER_HOST], workers.errors().slice(0, 5).join('\n'));
    assert.equal(workers.acks.length, 4 * PER_HOST);

    const v = await verifyAgainstStore(ipam, workers.acks);
    assert.equal(v.distinct, 4 * PER_HOST, 'every acknowledged address is distinct');
    assert.deepEqual(v.missing, []);
    assert.deepEqual(v.wrongHandle, []);
    assert.deepEqual(v.corrupt, []);
    assert.equal(v.extra, 0, 'no allocation without an acknowledgement');
    // Each host allocated from blocks affine to itself (no borrowing needed with room to spare).
    for (const s of await ipam.listBlocks('ipv6')) assert.match(s.block.affinity ?? '', /^host:host-[0-3]$/);

    const before = await ipamCheck(ipam);
    assert.equal(before.report.leakedIPs.length, 4 * PER_HOST, 'no endpoints: every allocation shows as a leak');
    assert.deepEqual(before.report.handleMismatches, []);

    const rel = await workers.releaseAll();
    assert.equal(rel.reduce((n, r) => n + r.count, 0), 4 * PER_HOST);
    await workers.stop();
    const { report, text } = await ipamCheck(ipam);
    assert.equal(report.summary.problems, 0, text);
    assert.equal(report.summary.allocated, 0);
  } finally {
    workers?.kill();
    await backend.close();
  }
});
