/**
 * Docker plugin request path without the kernel: the full container lifecycle Docker drives
 * (RequestAddress → CreateEndpoint → Join → EndpointOperInfo ×2 → Leave → DeleteEndpoint →
 * ReleaseAddress) through `dispatch`, on a MemoryBackend with real Weft IPAM and fake links.
 * Sequential and with `CONCURRENCY` containers in flight (Docker serves `docker run`s in parallel).
 * Last line: JSON.
 */
import { makeKit } from '../../src/plugins/docker/fixtures.ts';

const CONTAINERS = Number(process.env.CONTAINERS ?? 400);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const NET = '97e9077ee87af04ab50b9678599c7c2acd148907313068739567d2bc21ecf0af';

function epId(i: number): string {
  return i.toString(16).padStart(64, 'a');
}

const k = await makeKit({ pools: [['pool-a', '198.18.0.0/16']], names: { [NET]: 'bench_net' } });
const ok = (r: { status: number; body: object }, what: string): object => {
  if (r.status !== 200) throw new Error(`${what}: ${JSON.stringify(r.body)}`);
  return r.body;
};
await k.call('/NetworkDriver.CreateNetwork', {
  NetworkID: NET,
  Options: {},
  IPv4Data: [{ AddressSpace: 'CalicoLocalAddressSpace', Pool: '198.18.0.0/16', Gateway: '0.0.0.0/0' }],
  IPv6Data: [],
});

async function lifecycle(i: number, lat: { up: number[]; down: number[] }): Promise<void> {
  const ep = epId(i);
  const t0 = process.hrtime.bigint();
  const a = ok(await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '', Options: null }), 'RequestAddress') as { Address: string };
  ok(await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: ep, Interface: { Address: a.Address, AddressIPv6: '', MacAddress: '' }, Options: {} }), 'CreateEndpoint');
  ok(await k.call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: ep, SandboxKey: `/run/docker/netns/${i}`, Options: {} }), 'Join');
  ok(await k.call('/NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: ep }), 'EndpointOperInfo');
  ok(await k.call('/NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: ep }), 'EndpointOperInfo');
  const t1 = process.hrtime.bigint();
  ok(await k.call('/NetworkDriver.Leave', { NetworkID: NET, EndpointID: ep }), 'Leave');
  ok(await k.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: ep }), 'DeleteEndpoint');
  ok(await k.call('/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: a.Address.split('/')[0] }), 'ReleaseAddress');
  const t2 = process.hrtime.bigint();
  lat.up.push(Number(t1 - t0) / 1e6);
  lat.down.push(Number(t2 - t1) / 1e6);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0).toFixed(3));
}

// Warm-up (block claim, JIT).
await lifecycle(1_000_000, { up: [], down: [] });

const seq = { up: [] as number[], down: [] as number[] };
let t = process.hrtime.bigint();
for (let i = 0; i < CONTAINERS; i++) await lifecycle(i, seq);
const seqMs = Number(process.hrtime.bigint() - t) / 1e6;

const par = { up: [] as number[], down: [] as number[] };
t = process.hrtime.bigint();
let next = CONTAINERS;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < 2 * CONTAINERS) await lifecycle(next++, par);
  }),
);
const parMs = Number(process.hrtime.bigint() - t) / 1e6;
await k.close();

console.log(`sequential: ${CONTAINERS} container lifecycles in ${seqMs.toFixed(0)} ms; up p50 ${pct(seq.up, 50)} ms p99 ${pct(seq.up, 99)} ms`);
console.log(`concurrency ${CONCURRENCY}: ${CONTAINERS} lifecycles in ${parMs.toFixed(0)} ms; up p50 ${pct(par.up, 50)} ms p99 ${pct(par.up, 99)} ms`);
console.log(
  JSON.stringify({
    containers: CONTAINERS,
    concurrency: CONCURRENCY,
    seq_lifecycles_per_s: Math.round(CONTAINERS / (seqMs / 1000)),
    par_lifecycles_per_s: Math.round(CONTAINERS / (parMs / 1000)),
    seq_up_p50_ms: pct(seq.up, 50),
    seq_up_p99_ms: pct(seq.up, 99),
    par_up_p50_ms: pct(par.up, 50),
    par_up_p99_ms: pct(par.up, 99),
    seq_down_p50_ms: pct(seq.down, 50),
  }),
);
