import { test } from 'node:test';
import assert from 'node:assert/strict';
import { traceInCluster } from './trace.ts';
import { formatTrace } from '../../policy/index.ts';
import * as t from './testing.ts';

const kvs = [
  t.nodeRes('n1', '198.18.0.1/24'), t.nodeRes('n2', '198.18.0.2/24'),
  t.wep('web', { ns: 'prod', node: 'n1', ips: ['192.0.2.10'], labels: { app: 'web' }, profiles: ['egress-open'] }),
  t.wep('db', { ns: 'prod', node: 'n2', ips: ['192.0.2.70'], labels: { app: 'db' }, ports: [{ name: 'pg', protocol: 'TCP', port: 5432 }] }),
  t.profile('egress-open', { egress: [{ action: 'Allow' }] }),
  t.np('prod', 'db-in', { selector: "app == 'db'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "app == 'web'" }, destination: { ports: ['pg'] } }] }),
];

test('traceInCluster evaluates egress on the source host and ingress on the destination host', () => {
  const ok = traceInCluster(kvs, 'prod/web', 'prod/db', { protocol: 'TCP', dstPort: 5432 });
  assert.equal(ok.verdict, 'allow');
  assert.equal(ok.from.host, 'n1');
  assert.equal(ok.to.host, 'n2');
  assert.ok(ok.egress.evaluated && ok.ingress.evaluated);
  const bad = traceInCluster(kvs, 'web', '192.0.2.70', { protocol: 'TCP', dstPort: 22 });
  assert.equal(bad.verdict, 'deny');
  assert.equal(bad.ingress.evaluated && bad.ingress.decidedBy.kind, 'tier-default');
  assert.match(formatTrace(bad), /Ingress to destination \(workload endpoint prod\/db, ingress\)/);
});

test('traceInCluster: an outside address is reported, not guessed', () => {
  const r = traceInCluster(kvs, { address: '203.0.113.9' }, 'prod/db', { protocol: 'TCP', dstPort: 5432 });
  assert.equal(r.egress.evaluated, false);
  assert.equal(r.verdict, 'deny', 'source is not app=web');
});
