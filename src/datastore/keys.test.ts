import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  RESOURCE_KINDS,
  RESOURCE_KIND_NAMES,
  felixStatusKey,
  felixHostPrefix,
  hostEndpointStatusKey,
  parseEndpointStatusKey,
  workloadEndpointStatusKey,
  ipamAffinityKey,
  ipamBlockKey,
  ipamHandleKey,
  parseFelixStatusKey,
  parseIpamAffinityKey,
  parseIpamBlockKey,
  parseIpamHandleKey,
  parseResourceKey,
  resourceKey,
  resourcePrefix,
  type ResourceKey,
} from './keys.ts';

test('resource keys follow the Calico etcdv3 layout', () => {
  assert.equal(
    resourceKey({ kind: 'NetworkPolicy', namespace: 'default', name: 'allow-dns' }),
    '/calico/resources/v3/projectcalico.org/networkpolicies/default/allow-dns',
  );
  assert.equal(resourceKey({ kind: 'IPPool', name: 'pool1' }), '/calico/resources/v3/projectcalico.org/ippools/pool1');
  assert.equal(resourcePrefix('WorkloadEndpoint'), '/calico/resources/v3/projectcalico.org/workloadendpoints/');
  assert.equal(resourcePrefix('WorkloadEndpoint', 'ns1'), '/calico/resources/v3/projectcalico.org/workloadendpoints/ns1/');
  assert.throws(() => resourceKey({ kind: 'NetworkPolicy', name: 'x' }), RangeError);
  assert.throws(() => resourceKey({ kind: 'IPPool', namespace: 'x', name: 'x' }), RangeError);
  assert.throws(() => resourceKey({ kind: 'IPPool', name: 'a/b' }), RangeError);
  assert.throws(() => resourcePrefix('IPPool', 'ns'), RangeError);
  assert.equal(parseResourceKey('/calico/resources/v3/projectcalico.org/networkpolicies/default'), undefined);
  assert.equal(parseResourceKey('/calico/resources/v3/projectcalico.org/ippools/a/b'), undefined);
  assert.equal(parseResourceKey('/calico/resources/v3/projectcalico.org/unknowns/a'), undefined);
  assert.equal(parseResourceKey('/calico/ipam/v2/config'), undefined);
});

test('resourceKey/parseResourceKey round-trip (property)', () => {
  const seg = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/);
  const key = fc.record({ kind: fc.constantFrom(...RESOURCE_KIND_NAMES), namespace: seg, name: seg }).map(
    (r): ResourceKey =>
      RESOURCE_KINDS[r.kind].namespaced ? { kind: r.kind, namespace: r.namespace, name: r.name } : { kind: r.kind, name: r.name },
  );
  fc.assert(
    fc.property(key, (k) => {
      const p = resourceKey(k);
      assert.deepEqual(parseResourceKey(p), k);
      assert.ok(p.startsWith(resourcePrefix(k.kind, k.namespace)));
    }),
  );
});

test('IPAM and felix status keys', () => {
  assert.equal(ipamBlockKey('192.0.2.0/26'), '/calico/ipam/v2/assignment/ipv4/block/192.0.2.0-26');
  assert.equal(ipamBlockKey('2001:db8::/122'), '/calico/ipam/v2/assignment/ipv6/block/2001:db8::-122');
  assert.deepEqual(parseIpamBlockKey('/calico/ipam/v2/assignment/ipv6/block/2001:db8::-122'), {
    cidr: '2001:db8::/122',
    family: 'ipv6',
  });
  assert.equal(ipamAffinityKey('host-1', '198.51.100.64/26'), '/calico/ipam/v2/host/host-1/ipv4/block/198.51.100.64-26');
  assert.deepEqual(parseIpamAffinityKey('/calico/ipam/v2/host/host-1/ipv4/block/198.51.100.64-26'), {
    host: 'host-1',
    cidr: '198.51.100.64/26',
    family: 'ipv4',
  });
  assert.equal(parseIpamAffinityKey('/calico/ipam/v2/host/h/ipv6/block/198.51.100.64-26'), undefined);
  assert.equal(ipamHandleKey('k8s-pod-network.abc'), '/calico/ipam/v2/handle/k8s-pod-network.abc');
  assert.deepEqual(parseIpamHandleKey('/calico/ipam/v2/handle/h1'), { handleId: 'h1' });
  assert.equal(felixStatusKey('n1'), '/calico/felix/v2/no-region/host/n1/status');
  assert.deepEqual(parseFelixStatusKey('/calico/felix/v2/no-region/host/n1/status'), { host: 'n1' });
});

test('endpoint status keys (felix statusrep layout; "/" in ids escaped as %2f)', () => {
  assert.equal(workloadEndpointStatusKey('h1', 'k8s', 'default/pod1', 'eth0'), '/calico/felix/v2/no-region/host/h1/workload/k8s/default%2fpod1/endpoint/eth0');
  assert.equal(hostEndpointStatusKey('h1', 'h1-eth0'), '/calico/felix/v2/no-region/host/h1/endpoint/h1-eth0');
  assert.deepEqual(parseEndpointStatusKey('/calico/felix/v2/no-region/host/h1/endpoint/h1-eth0'), { kind: 'host', host: 'h1', endpoint: 'h1-eth0' });
  assert.equal(parseEndpointStatusKey('/calico/felix/v2/no-region/host/h1/status'), undefined);
  assert.ok(felixHostPrefix('h1').endsWith('/host/h1/') && workloadEndpointStatusKey('h1', 'a', 'b', 'c').startsWith(felixHostPrefix('h1')));
  const seg = fc.string({ minLength: 1, maxLength: 12 });
  fc.assert(fc.property(seg, seg, seg, (o, w, e) => {
    assert.deepEqual(parseEndpointStatusKey(workloadEndpointStatusKey('h1', o, w, e)), { kind: 'workload', host: 'h1', orchestrator: o, workload: w, endpoint: e });
    assert.deepEqual(parseEndpointStatusKey(hostEndpointStatusKey('h1', e)), { kind: 'host', host: 'h1', endpoint: e });
  }));
});
