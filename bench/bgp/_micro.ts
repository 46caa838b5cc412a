import { packAnnouncements, decodeMessage, BgpFramer } from '../../src/bgp/packet/index.ts';
import { Rib } from '../../src/bgp/rib/index.ts';
import type { UpdateMessage } from '../../src/bgp/packet/index.ts';
const N = Number(process.argv[2] ?? 100000);
const fam = process.argv[3] ?? 'ipv4';
const ctx = { fourOctetAs: true };
const msgs: Uint8Array[] = [];
const CH = 10000;
for (let s = 0; s < N; s += CH) {
  const pfx: string[] = [];
  for (let i = s; i < Math.min(N, s + CH); i++) pfx.push(fam === 'ipv4' ? `${16 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24` : `2001:db8:${((i >>> 8) & 0xffff).toString(16)}:${((i & 255) << 8).toString(16)}::/56`);
  msgs.push(...(fam === 'ipv4' ? packAnnouncements(pfx, { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '198.18.0.2' }, 1, ctx)
    : packAnnouncements(pfx, { origin: 0, asPath: [{ type: 2, asns: [65001] }] }, 2, ctx, ['2001:db8:ff::2'])));
}
const stream = Buffer.concat(msgs);
msgs.length = 0;
(globalThis as { gc?: () => void }).gc?.();
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const rib = new Rib({ localAs: 64512, routerId: '198.18.0.1' });
rib.addPeer({ id: 'p', address: '198.18.0.2', asn: 65001 });
rib.peerUp('p', { routerId: '198.18.0.2', localAddress: '198.18.0.1', families: [1, 2] });
const f = new BgpFramer();
for (let o = 0; o < stream.length; o += 65536) {
  for (const m of f.push(stream.subarray(o, o + 65536))) rib.applyUpdate('p', decodeMessage(m, ctx) as UpdateMessage, ctx);
}
const t1 = performance.now();
const rss1 = process.memoryUsage().rss;
(globalThis as { gc?: () => void }).gc?.();
console.log({ N, fam, ms: Math.round(t1 - t0), routes: rib.loc.size, rssDeltaMB: Math.round((rss1 - rss0) / 1e6), heapMB: Math.round(process.memoryUsage().heapUsed / 1e6), streamMB: Math.round(stream.length/1e6) });
