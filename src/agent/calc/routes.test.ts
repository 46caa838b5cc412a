import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteResolver } from './routes.ts';
import type { RouteModel } from '../../policy/index.ts';

function resolver(): { r: RouteResolver; routes: Map<string, RouteModel> } {
  const routes = new Map<string, RouteModel>();
  const r = new RouteResolver('n1', { onRouteUpdate: (x) => routes.set(x.dst, x), onRouteRemove: (d) => routes.delete(d) });
  return { r, routes };
}

test('borrowed IPs get /32 routes to their node, whatever the order of blocks, nodes and endpoints', () => {
  const { r, routes } = resolver();
  r.updateRemoteEndpoint('ns/a', 'n2', ['192.0.2.5/32']);
  assert.equal(routes.size, 0, 'no node address yet');
  r.updateNode('n2', { ipv4: '198.18.0.2' });
  assert.deepEqual(routes.get('192.0.2.5/32'), { dst: '192.0.2.5/32', type: 'remote-workload', node: 'n2', via: '198.18.0.2', endpoint: 'ns/a' });
  r.updateBlock('192.0.2.0/26', 'n2');
  assert.equal(routes.get('192.0.2.5/32'), undefined, 'inside its own block now');
  assert.deepEqual(routes.get('192.0.2.0/26'), { dst: '192.0.2.0/26', type: 'remote-block', node: 'n2', via: '198.18.0.2' });
  r.updateBlock('192.0.2.0/26', 'n1');
  assert.deepEqual(routes.get('192.0.2.0/26'), { dst: '192.0.2.0/26', type: 'blackhole' });
  assert.equal(routes.get('192.0.2.5/32')?.type, 'remote-workload', 'borrowed from n1 block');
  r.updateNode('n2', { ipv4: '198.18.0.22' });
  assert.equal((routes.get('192.0.2.5/32') as { via: string }).via, '198.18.0.22');
  r.updateLocalEndpoint('ns/local', 'cali1', ['192.0.2.5/32']);
  assert.equal(routes.get('192.0.2.5/32')?.type, 'local-workload', 'a local workload wins the clash');
  r.updateLocalEndpoint('ns/local', undefined, []);
  assert.equal(routes.get('192.0.2.5/32')?.type, 'remote-workload');
  r.updateBlock('192.0.2.0/26', undefined);
  r.updateRemoteEndpoint('ns/a', undefined, []);
  assert.deepEqual([...routes.keys()], []);
});

test('IPv6 blocks and borrowed addresses', () => {
  const { r, routes } = resolver();
  r.updateNode('n2', { ipv6: '2001:db8:ffff::2' });
  r.updateBlock('2001:db8::/122', 'n2');
  r.updateRemoteEndpoint('ns/a', 'n2', ['2001:db8::5/128', '2001:db8::1:5/128']);
  assert.equal(routes.get('2001:db8::5/128'), undefined);
  assert.equal(routes.get('2001:db8::1:5/128')?.type, 'remote-workload');
});
