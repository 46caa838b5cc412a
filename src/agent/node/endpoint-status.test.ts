import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend, felixHostPrefix, resourceKey, workloadEndpointStatusKey, hostEndpointStatusKey, type SyncUpdate } from '../../datastore/index.ts';
import type { LinkInfo } from '../netlink/index.ts';
import { componentLogger } from '../../lib/log.ts';
import { EndpointStatusReporter, endpointStatus, type DataplaneState } from './endpoint-status.ts';
import { resolveRuntimeConfig, RUNTIME_DEFAULTS } from './runtime-config.ts';

function wep(name: string, node: string, iface: string, workload = name): SyncUpdate {
  return {
    key: resourceKey({ kind: 'WorkloadEndpoint', namespace: 'default', name }), revision: 1,
    value: JSON.stringify({ spec: { node, orchestrator: 'openstack', workload, endpoint: `${workload}-port`, interfaceName: iface, ipNetworks: [] } }),
  };
}

function hep(name: string, node: string, iface?: string): SyncUpdate {
  return { key: resourceKey({ kind: 'HostEndpoint', name }), revision: 1, value: JSON.stringify({ spec: { node, ...(iface ? { interfaceName: iface } : {}), expectedIPs: ['198.18.0.1'] } }) };
}

async function stored(b: MemoryBackend, host: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const kv of (await b.list(felixHostPrefix(host))).items) out[kv.key] = (JSON.parse(kv.value) as { status: string }).status;
  return out;
}

describe('endpoint status', () => {
  test('status from interface and dataplane state', () => {
    const links = new Map<string, LinkInfo>([
      ['tapa', { name: 'tapa', up: true, oper: 'UP', addresses: [] }],
      ['tapb', { name: 'tapb', up: true, oper: 'LOWERLAYERDOWN', addresses: [] }],
      ['tapc', { name: 'tapc', up: false, oper: 'DOWN', addresses: [] }],
      ['tun0', { name: 'tun0', up: true, oper: 'UNKNOWN', addresses: [] }],
    ]);
    assert.equal(endpointStatus('tapa', links, 'ok'), 'up');
    assert.equal(endpointStatus('tapb', links, 'ok'), 'down');
    assert.equal(endpointStatus('tapc', links, 'ok'), 'down');
    assert.equal(endpointStatus('tun0', links, 'ok'), 'up');
    assert.equal(endpointStatus('missing', links, 'ok'), 'down');
    assert.equal(endpointStatus(undefined, links, 'ok'), 'up');
    assert.equal(endpointStatus('tapa', links, 'error'), 'error');
  });

  test('reporter: up/down/error, deletes on removal, ignores other hosts, resync removes stale keys, disable clears', async () => {
    const b = new MemoryBackend();
    const links = new Map<string, LinkInfo>([['tapa', { name: 'tapa', up: true, oper: 'UP', addresses: [] }]]);
    let dp: DataplaneState = 'ok';
    // A key left by a previous run for an endpoint that no longer exists.
    const staleKey = workloadEndpointStatusKey('h1', 'openstack', 'gone', 'gone-port');
    await b.put(staleKey, '{"status":"up"}');
    await b.put(workloadEndpointStatusKey('h2', 'openstack', 'other', 'other-port'), '{"status":"up"}');
    const r = new EndpointStatusReporter({
      backend: b, host: 'h1', logger: componentLogger('test'),
      listLinks: () => Promise.resolve([...links.values()]),
      dataplaneState: () => Promise.resolve(dp),
    });
    try {
      r.onUpdates([wep('a', 'h1', 'tapa'), wep('b', 'h1', 'tapb'), wep('x', 'h2', 'tapx'), hep('h1-eth0', 'h1', 'eth0'), hep('h1-any', 'h1')]);
      await r.idle();
      assert.deepEqual(await stored(b, 'h1'), { [staleKey]: 'up' }, 'nothing is written while reporting is disabled');
      r.configure({ enabled: true, delayMs: 0 });
      await r.idle();
      const ka = workloadEndpointStatusKey('h1', 'openstack', 'a', 'a-port');
      const kb = workloadEndpointStatusKey('h1', 'openstack', 'b', 'b-port');
      assert.deepEqual(await stored(b, 'h1'), {
        [ka]: 'up', [kb]: 'down', [hostEndpointStatusKey('h1', 'h1-eth0')]: 'down', [hostEndpointStatusKey('h1', 'h1-any')]: 'up',
      });
      assert.deepEqual(await stored(b, 'h2'), { [workloadEndpointStatusKey('h2', 'openstack', 'other', 'other-port')]: 'up' }, 'other hosts untouched');

      // Interface appears: b goes up on the next pass (poll or kick).
      links.set('tapb', { name: 'tapb', up: true, oper: 'UP', addresses: [] });
      const revBefore = await b.revision();
      r.kick();
      await r.idle();
      assert.equal((await stored(b, 'h1'))[kb], 'up');
      assert.equal(await b.revision(), revBefore + 1, 'only the changed key is written');

      dp = 'error';
      r.kick();
      await r.idle();
      assert.equal((await stored(b, 'h1'))[ka], 'error');
      dp = 'ok';

      // Removal deletes the key.
      r.onUpdates([{ key: wep('a', 'h1', 'tapa').key, value: undefined, revision: 2 }]);
      await r.idle();
      assert.equal((await stored(b, 'h1'))[ka], undefined);
      assert.equal((await stored(b, 'h1'))[kb], 'up');

      // A key altered behind our back is repaired by the next resync.
      await b.put(kb, 'garbage');
      r.configure({ enabled: true, delayMs: 0, resyncMs: 0 });
      await r.idle();
      assert.equal((await stored(b, 'h1'))[kb], 'up');

      r.configure({ enabled: false, delayMs: 0 });
      await r.idle();
      assert.deepEqual(await stored(b, 'h1'), {}, 'disabling removes this host\'s endpoint keys');
      assert.equal(Object.keys(await stored(b, 'h2')).length, 1);
    } finally {
      await r.stop();
    }
  });

  test('a failing datastore is retried, never thrown', async () => {
    const b = new MemoryBackend();
    let fail = true;
    const flaky = new Proxy(b, {
      get(t, p, recv) {
        const v = Reflect.get(t, p, recv) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => (fail && (p === 'put' || p === 'list') ? Promise.reject(new Error('unreachable')) : (v as (...a: unknown[]) => unknown).apply(t, args));
      },
    });
    const r = new EndpointStatusReporter({
      backend: flaky, host: 'h1', logger: componentLogger('test'),
      listLinks: () => Promise.resolve([{ name: 'tapa', up: true, oper: 'UP', addresses: [] }]),
      dataplaneState: () => Promise.resolve('ok'),
    });
    try {
      r.onUpdates([wep('a', 'h1', 'tapa')]);
      r.configure({ enabled: true, delayMs: 0 });
      await r.idle();
      assert.deepEqual(await stored(b, 'h1'), {});
      fail = false;
      r.kick();
      await r.idle();
      assert.equal((await stored(b, 'h1'))[workloadEndpointStatusKey('h1', 'openstack', 'a', 'a-port')], 'up');
    } finally {
      await r.stop();
    }
  });
});

describe('runtime config from FelixConfiguration', () => {
  test('precedence: defaults < default < node.<host> < flags; bad values ignored with a problem', () => {
    assert.deepEqual(resolveRuntimeConfig([]).config, RUNTIME_DEFAULTS);
    const { config, problems } = resolveRuntimeConfig([
      { reportingInterval: '10s', reportingTTL: '40s', healthPort: 9100, endpointReportingEnabled: true, endpointReportingDelay: '250ms' },
      { reportingInterval: '1m', healthHost: 'localhost', healthPort: 'x' },
    ]);
    assert.deepEqual(config, { reportingIntervalSecs: 60, reportingTTLSecs: 180, health: { host: '127.0.0.1', port: 9100 }, endpointReportingEnabled: true, endpointReportingDelayMs: 250 });
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /healthPort/);
    assert.match(problems[1]!, /reportingTTL 40s is shorter than reportingInterval 60s/);
    assert.equal(resolveRuntimeConfig([{ healthEnabled: false }]).config.health, false);
    assert.deepEqual(resolveRuntimeConfig([{ healthEnabled: false, healthPort: 9300 }], { health: { host: '::1' } }).config.health, { host: '::1', port: 9300 });
    assert.equal(resolveRuntimeConfig([{ healthPort: 9300 }], { health: false }).config.health, false);
    assert.equal(resolveRuntimeConfig([{ reportingInterval: '5s' }], { reportingIntervalSecs: 0 }).config.reportingIntervalSecs, 0);
    assert.match(resolveRuntimeConfig([{ reportingInterval: 'soon' }]).problems[0]!, /spec.reportingInterval: "soon" is not a duration/);
  });
});
