import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resourceKey } from '../../datastore/index.ts';
import { makeKit, poolResource, snapshot } from './fixtures.ts';

const space = 'CalicoLocalAddressSpace';

describe('IpamDriver capabilities', () => {
  test('GetCapabilities and GetDefaultAddressSpaces as in the trace', async () => {
    const k = await makeKit();
    try {
      assert.deepEqual((await k.call('/IpamDriver.GetCapabilities', undefined)).body, { RequiresMACAddress: false, RequiresRequestReplay: false });
      assert.deepEqual((await k.call('/IpamDriver.GetDefaultAddressSpaces', undefined)).body, {
        LocalDefaultAddressSpace: 'CalicoLocalAddressSpace',
        GlobalDefaultAddressSpace: 'CalicoGlobalAddressSpace',
      });
      assert.deepEqual((await k.call('/Plugin.Activate', undefined)).body, { Implements: ['NetworkDriver'] });
      const r = await k.ipamR.get('/Plugin.Activate')!(null);
      assert.deepEqual(r, { Implements: ['IpamDriver'] });
    } finally {
      await k.close();
    }
  });
});

describe('IpamDriver.RequestPool', () => {
  test('--subnet equal to a pool: PoolID is the pool name, dummy gateway in Data', async () => {
    const k = await makeKit();
    try {
      const r = await k.call('/IpamDriver.RequestPool', { AddressSpace: space, Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { PoolID: 'pool-a', Pool: '192.0.2.0/24', Data: { 'com.docker.network.gateway': '0.0.0.0/0' } });
      const g = await k.call('/IpamDriver.RequestPool', { AddressSpace: 'CalicoGlobalAddressSpace', Pool: '2001:db8::/64', SubPool: '', Options: {}, V6: true });
      assert.deepEqual(g.body, { PoolID: 'pool-v6', Pool: '2001:db8::/64', Data: { 'com.docker.network.gateway': '::/0' } });
    } finally {
      await k.close();
    }
  });

  test('no --subnet: every pool of the family', async () => {
    const k = await makeKit();
    try {
      const r = await k.call('/IpamDriver.RequestPool', { AddressSpace: space, Pool: '', SubPool: '', Options: {}, V6: false });
      assert.deepEqual(r.body, { PoolID: 'WeftPoolIPv4', Pool: '0.0.0.0/0', Data: { 'com.docker.network.gateway': '0.0.0.0/0' } });
      const r6 = await k.call('/IpamDriver.RequestPool', { AddressSpace: space, Pool: '', SubPool: '', Options: null, V6: true });
      assert.equal((r6.body as { PoolID: string }).PoolID, 'WeftPoolIPv6');
    } finally {
      await k.close();
    }
  });

  test('refusals name what was wrong', async () => {
    const k = await makeKit();
    try {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ Pool: '203.0.113.0/24' }, /203\.0\.113\.0\/24 does not match any IP pool; existing pools: pool-a \(192\.0\.2\.0\/24\), pool-b/],
        [{ Pool: '192.0.2.0/25' }, /does not match any IP pool/],
        [{ Pool: 'banana' }, /is not a CIDR/],
        [{ Pool: '2001:db8::/64' }, /not an IPv4 subnet/],
        [{ SubPool: '192.0.2.0/28' }, /--ip-range/],
        [{ Options: { foo: 'bar' } }, /--ipam-opt foo/],
        [{ AddressSpace: 'nope' }, /unknown address space "nope"/],
        [{ AddressSpace: 7 }, /AddressSpace/],
      ];
      for (const [patch, re] of cases) {
        const r = await k.call('/IpamDriver.RequestPool', { AddressSpace: space, Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false, ...patch });
        assert.equal(r.status, 500, JSON.stringify(patch));
        assert.match((r.body as { Err: string }).Err, re);
      }
    } finally {
      await k.close();
    }
  });

  test('a disabled pool, and no pool at all', async () => {
    const k = await makeKit({ pools: [] });
    try {
      const none = await k.call('/IpamDriver.RequestPool', { AddressSpace: space, Pool: '', SubPool: '', Options: {}, V6: false });
      assert.match((none.body as { Err: string }).Err, /no enabled IPv4 IP pool exists; no IP pools exist/);
      await k.backend.put(resourceKey({ kind: 'IPPool', name: 'off' }), poolResource('off', '192.0.2.0/24', { disabled: true }));
      const off = await k.call('/IpamDriver.RequestPool', { AddressSpace: space, Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false });
      assert.match((off.body as { Err: string }).Err, /IP pool off \(192\.0\.2\.0\/24\) is disabled/);
    } finally {
      await k.close();
    }
  });
});

describe('IpamDriver.RequestAddress / ReleaseAddress', () => {
  test('--ip: that address, /32, held by a libnetwork handle of this host', async () => {
    const k = await makeKit();
    try {
      const r = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '192.0.2.2', Options: null });
      assert.deepEqual(r.body, { Address: '192.0.2.2/32', Data: {} });
      const a = await k.ipam.getAssignment('192.0.2.2');
      assert.match(a!.handle!, /^libnetwork\.host1\./);
      assert.equal(a!.attrs.namespace, 'libnetwork');
      const again = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '192.0.2.2', Options: null });
      assert.equal(again.status, 500);
      assert.match((again.body as { Err: string }).Err, /--ip 192\.0\.2\.2 is already in use/);
      const outside = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '198.51.100.9', Options: null });
      assert.match((outside.body as { Err: string }).Err, /outside pool pool-a/);
      const v6in4 = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '2001:db8::9', Options: null });
      assert.match((v6in4.body as { Err: string }).Err, /not an IPv4 address/);

      assert.deepEqual((await k.call('/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: '192.0.2.2' })).body, {});
      assert.equal(await k.ipam.getAssignment('192.0.2.2'), undefined);
      // Idempotent.
      assert.equal((await k.call('/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: '192.0.2.2' })).status, 200);
    } finally {
      await k.close();
    }
  });

  test('gateway request: placeholder, no allocation; a given gateway is refused', async () => {
    const k = await makeKit();
    try {
      const before = await snapshot(k.backend);
      const r = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
      assert.deepEqual(r.body, { Address: '0.0.0.0/0', Data: {} });
      assert.equal(await snapshot(k.backend), before);
      const g = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '192.0.2.1', Options: { RequestAddressType: 'com.docker.network.gateway' } });
      assert.match((g.body as { Err: string }).Err, /does not support specifying a gateway/);
      const odd = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '', Options: { 'com.docker.network.endpoint.macaddress': 'x' } });
      assert.match((odd.body as { Err: string }).Err, /unsupported option\(s\) com\.docker\.network\.endpoint\.macaddress/);
      assert.equal(await snapshot(k.backend), before);
      assert.deepEqual((await k.call('/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: '0.0.0.0' })).body, {});
    } finally {
      await k.close();
    }
  });

  test('automatic: from the named pool, or any pool; IPv6 /128', async () => {
    const k = await makeKit();
    try {
      const r = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-b', Address: '', Options: null });
      assert.match((r.body as { Address: string }).Address, /^198\.51\.100\.\d+\/32$/);
      const any = await k.call('/IpamDriver.RequestAddress', { PoolID: 'WeftPoolIPv4', Address: '', Options: {} });
      assert.match((any.body as { Address: string }).Address, /^(192\.0\.2|198\.51\.100)\.\d+\/32$/);
      const v6 = await k.call('/IpamDriver.RequestAddress', { PoolID: 'WeftPoolIPv6', Address: '', Options: {} });
      assert.match((v6.body as { Address: string }).Address, /^2001:db8:[0-9a-f:]*\/128$/);
      const gone = await k.call('/IpamDriver.RequestAddress', { PoolID: 'no-such-pool', Address: '', Options: {} });
      assert.match((gone.body as { Err: string }).Err, /pool "no-such-pool" no longer exists/);
    } finally {
      await k.close();
    }
  });

  test('ReleaseAddress never frees an address another host (or anything else) holds', async () => {
    const k = await makeKit();
    try {
      await k.ipam.assignIP({ ip: '192.0.2.50', host: 'host2', handle: 'libnetwork.host2.aaaa' });
      await k.ipam.assignIP({ ip: '192.0.2.51', host: 'host1', handle: 'cni.something' });
      for (const ip of ['192.0.2.50', '192.0.2.51']) {
        assert.equal((await k.call('/IpamDriver.ReleaseAddress', { PoolID: 'pool-a', Address: ip })).status, 200);
        assert.notEqual(await k.ipam.getAssignment(ip), undefined, ip);
      }
    } finally {
      await k.close();
    }
  });
});
