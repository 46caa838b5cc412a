/**
 * Replays the requests Docker 20.10 sent (libnetwork-trace.md §1–§3) and checks every reply, then
 * property tests: arbitrary or corrupted bodies always get a well-formed reply, and a refused
 * request never changes the datastore.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ipamBlockPrefix, resourcePrefix } from '../../datastore/index.ts';
import { EP1, NET_ID, SANDBOX, makeKit, snapshot, traceRequests, type Kit } from './fixtures.ts';

async function allocations(k: Kit): Promise<number> {
  let n = 0;
  for (const kv of (await k.backend.list(ipamBlockPrefix())).items) {
    n += (JSON.parse(kv.value) as { allocations: (number | null)[] }).allocations.filter((a) => a !== null).length;
  }
  return n;
}

function wellFormed(r: { status: number; body: object }): void {
  assert.equal(typeof r.body, 'object');
  assert.notEqual(r.body, null);
  assert.ok(!Array.isArray(r.body));
  JSON.parse(JSON.stringify(r.body));
  if (r.status !== 200) {
    const e = (r.body as { Err?: unknown }).Err;
    assert.equal(typeof e, 'string');
    assert.ok((e as string).length > 0);
  }
}

describe('replay of the Docker 20.10 trace', () => {
  test('network create → run --ip → stop/rm → network rm: every reply as Docker expects, nothing left', async () => {
    const k = await makeKit();
    try {
      const replies: Record<string, unknown> = {};
      for (const { path, body } of traceRequests('pool-a')) {
        const r = await k.call(path, body);
        assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
        replies[path] ??= r.body;
        if (path === '/NetworkDriver.Join') {
          // Mid-life: one endpoint, one address, one veth.
          assert.equal((await k.backend.list(resourcePrefix('WorkloadEndpoint'))).items.length, 1);
          assert.equal(await allocations(k), 1);
          assert.ok(k.links.links.has('caliecd4d732400'));
        }
      }
      assert.deepEqual(replies['/IpamDriver.RequestPool'], { PoolID: 'pool-a', Pool: '192.0.2.0/24', Data: { 'com.docker.network.gateway': '0.0.0.0/0' } });
      assert.deepEqual(replies['/IpamDriver.RequestAddress'], { Address: '192.0.2.2/32', Data: {} });
      assert.deepEqual(replies['/NetworkDriver.CreateEndpoint'], { Interface: { MacAddress: 'ee:ee:ee:ee:ee:ee' } });
      assert.equal((replies['/NetworkDriver.Join'] as { Gateway: string }).Gateway, '169.254.1.1');
      assert.deepEqual(replies['/NetworkDriver.EndpointOperInfo'], { Value: {} });
      assert.equal((await k.backend.list(resourcePrefix('WorkloadEndpoint'))).items.length, 0, 'no endpoint');
      assert.equal(await allocations(k), 0, 'no address');
      assert.equal(k.links.links.has('caliecd4d732400'), false, 'no veth');
    } finally {
      await k.close();
    }
  });

  test('the rollback of a failed network create (trace §5) is accepted', async () => {
    const k = await makeKit();
    try {
      for (const [path, body] of [
        ['/IpamDriver.RequestPool', { AddressSpace: 'CalicoGlobalAddressSpace', Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false }],
        ['/NetworkDriver.DeleteNetwork', { NetworkID: NET_ID }],
        ['/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: '0.0.0.0' }],
        ['/IpamDriver.ReleasePool', { PoolID: 'pool-a' }],
      ] as const) {
        assert.equal((await k.call(path, body)).status, 200, path);
      }
    } finally {
      await k.close();
    }
  });
});

const MUTATING = [
  '/IpamDriver.RequestPool',
  '/IpamDriver.RequestAddress',
  '/IpamDriver.ReleaseAddress',
  '/IpamDriver.ReleasePool',
  '/NetworkDriver.CreateNetwork',
  '/NetworkDriver.DeleteNetwork',
  '/NetworkDriver.CreateEndpoint',
  '/NetworkDriver.Join',
  '/NetworkDriver.Leave',
  '/NetworkDriver.DeleteEndpoint',
  '/NetworkDriver.EndpointOperInfo',
  '/NetworkDriver.DiscoverNew',
  '/NetworkDriver.ProgramExternalConnectivity',
  '/NetworkDriver.RevokeExternalConnectivity',
];

describe('malformed requests (fast-check)', () => {
  test('arbitrary JSON bodies: a well-formed Err reply and an unchanged store', async () => {
    const k = await makeKit();
    try {
      // An endpoint exists, so destructive handlers have something they could wrongly touch.
      for (const { path, body } of traceRequests('pool-a').slice(0, 5)) assert.equal((await k.call(path, body)).status, 200);
      const before = await snapshot(k.backend);
      const links = [...k.links.links.keys()].join();
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...MUTATING), fc.jsonValue(), async (path, body) => {
          const r = await k.call(path, body);
          wellFormed(r);
          assert.equal(r.status, 500, `${path} accepted ${JSON.stringify(body)}`);
          assert.equal(await snapshot(k.backend), before);
          assert.equal([...k.links.links.keys()].join(), links);
        }),
        { numRuns: 300 },
      );
    } finally {
      await k.close();
    }
  });

  test('trace bodies with one field corrupted: well-formed reply; if refused, nothing changed', async () => {
    const k = await makeKit();
    try {
      const reqs = traceRequests('pool-a');
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: reqs.length - 1 }),
          fc.nat(),
          fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.string(), fc.constant(''), fc.constant(null)),
          async (i, fieldPick, value) => {
            const { path, body } = reqs[i]!;
            const fields = Object.keys(body as object);
            const field = fields[fieldPick % fields.length]!;
            const bad = { ...(body as Record<string, unknown>), [field]: value };
            const before = await snapshot(k.backend);
            const r = await k.call(path, bad);
            wellFormed(r);
            if (r.status !== 200) assert.equal(await snapshot(k.backend), before, `${path} with ${field}=${JSON.stringify(value)}`);
            // Whatever got created is cleaned up the way Docker would, so runs stay independent.
            await k.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP1 });
            await k.call('/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: '192.0.2.2' });
            const got = (r.body as { Address?: unknown }).Address;
            if (r.status === 200 && typeof got === 'string') await k.call('/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: got.split('/')[0] });
          },
        ),
        { numRuns: 300 },
      );
      assert.equal(await allocations(k), 0);
    } finally {
      await k.close();
    }
  });

  test('not JSON at all: Err naming the problem', async () => {
    const k = await makeKit();
    try {
      const { dispatch } = await import('./server.ts');
      const { componentLogger } = await import('../../lib/log.ts');
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...MUTATING), fc.string({ minLength: 1 }), async (path, raw) => {
          let isJson = true;
          try {
            JSON.parse(raw);
          } catch {
            isJson = false;
          }
          fc.pre(!isJson && raw.trim() !== '');
          const r = await dispatch(path.startsWith('/Ipam') ? k.ipamR : k.net, path, raw, componentLogger('t'));
          wellFormed(r);
          assert.match((r.body as { Err: string }).Err, /not valid JSON/);
        }),
        { numRuns: 200 },
      );
      assert.equal((await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX })).status, 500);
    } finally {
      await k.close();
    }
  });
});
