import { test } from 'node:test';
import assert from 'node:assert/strict';
import { birdConfig, frrConfig, gobgpConfig, routerAddress } from './routers.ts';
import { parseTopology } from './topology.ts';

const cfg = {
  name: 'tor1', as: 65001, address: routerAddress(0),
  neighbors: [{ name: 'h1', address: '198.18.0.1', as: 65001 }, { name: 'h2', address: '198.18.0.2', as: 64513 }],
};

test('router configurations: passive, iBGP neighbors are rr clients, eBGP next hop self (BIRD)', () => {
  assert.equal(cfg.address, '198.18.0.201');
  const bird = birdConfig(cfg);
  assert.match(bird, /router id 198\.18\.0\.201;/);
  assert.match(bird, /protocol bgp h1 \{[^}]*neighbor 198\.18\.0\.1 as 65001;\s*passive on;\s*rr client;/);
  assert.match(bird, /protocol bgp h2 \{[^}]*neighbor 198\.18\.0\.2 as 64513;[\s\S]*?next hop self;/);
  const frr = frrConfig(cfg);
  assert.match(frr, /router bgp 65001/);
  assert.match(frr, /neighbor 198\.18\.0\.2 remote-as 64513\n neighbor 198\.18\.0\.2 passive/);
  assert.match(frr, /neighbor 198\.18\.0\.1 route-reflector-client/);
  assert.doesNotMatch(frr, /neighbor 198\.18\.0\.2 route-reflector-client/);
  const gobgp = gobgpConfig(cfg);
  assert.match(gobgp, /as = 65001/);
  assert.equal(gobgp.match(/passive-mode = true/g)?.length, 2);
  assert.equal(gobgp.match(/route-reflector-client = true/g)?.length, 1);
});

test('topology routers: kinds, unique names, bgp flag default', () => {
  const t = parseTopology('name: x\nhosts: [{name: h1}]\nrouters: [{name: tor1, kind: frr, as: 65001}]\n');
  assert.deepEqual(t.routers, [{ name: 'tor1', kind: 'frr', as: 65001 }]);
  assert.equal(t.bgp, true);
  assert.equal(parseTopology('name: x\nbgp: false\nhosts: [{name: h1}]\n').bgp, false);
  assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nrouters: [{name: h1, kind: bird, as: 1}]\n'), /duplicate name h1/);
  assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nrouters: [{name: r, kind: quagga, as: 1}]\n'), /routers/);
});
