/**
 * e2e, real kernel: endpoint status reporting (FelixConfiguration endpointReportingEnabled) with
 * the agent (`runNode`) in a host namespace over the embedded SQLite datastore. A workload veth's
 * state in the kernel drives the status key, through link events (polling is off for the test):
 * up → peer down (LOWERLAYERDOWN) → down → up again;
 * deleting the endpoint deletes its key; turning reporting off removes the host's keys.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, felixHostPrefix, workloadEndpointStatusKey, type Backend } from '../../src/datastore/index.ts';
import { ResourceClient } from '../../src/api/index.ts';
import { waitFor } from '../../src/datastore/conformance.ts';
import { runNode, type RunningNode } from '../../src/agent/node/index.ts';
import { ExecRunner } from '../../src/agent/netlink/index.ts';
import { createNetns, deleteNetns, netnsSkipReason, nsExec, uniqueNetnsName } from '../helpers/netns.ts';

const skip = netnsSkipReason();
const IFACE = 'cali0e2e5tatus0';


describe('endpoint status reporting on a real host namespace', { skip }, () => {
  const hostNs = uniqueNetnsName('esh');
  const wlNs = uniqueNetnsName('esw');
  const dir = mkdtempSync(join(tmpdir(), 'weft-epstatus-'));
  let backend: Backend | undefined;
  let agent: RunningNode | undefined;

  before(async () => {
    createNetns(hostNs);
    createNetns(wlNs);
    nsExec(hostNs, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']);
    nsExec(hostNs, ['ip', 'link', 'set', 'eth0peer', 'up']);
    nsExec(hostNs, ['ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'eth0']);
    nsExec(hostNs, ['ip', 'link', 'set', 'eth0', 'up']);
    nsExec(hostNs, ['ip', 'link', 'add', IFACE, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', wlNs]);
    nsExec(hostNs, ['ip', 'link', 'set', IFACE, 'up']);
    nsExec(wlNs, ['ip', 'link', 'set', 'eth0', 'up']);
    backend = await openBackend({ type: 'sqlite', path: join(dir, 'weft.db') });
    const client = new ResourceClient(backend);
    await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'FelixConfiguration', metadata: { name: 'default' }, spec: { endpointReportingEnabled: true, endpointReportingDelay: '100ms' } });
    await client.create({
      apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' },
      spec: { cidr: '192.0.2.0/24', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, nodeSelector: 'all()' },
    });
    agent = await runNode({
      datastore: backend, nodeName: 'host1', ip: '198.18.0.1/24', noDefaultIpPools: true, health: false, reportingIntervalSecs: 0,
      refreshIntervalMs: 0,
      // No polling within the test's waits: interface changes must arrive as `ip monitor link` events.
      endpointStatusPollMs: 600_000, shims: { runner: new ExecRunner(hostNs) },
    });
    await agent.ready;
  });

  after(async () => {
    try {
      await agent?.stop();
      await backend?.close();
    } finally {
      deleteNetns(wlNs);
      deleteNetns(hostNs);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('status follows the kernel interface and the endpoint lifecycle', async () => {
    const client = new ResourceClient(backend!);
    const key = workloadEndpointStatusKey('host1', 'openstack', 'vm1', 'eth0');
    const status = async (): Promise<string | undefined> => {
      const kv = await backend!.get(key);
      return kv === undefined ? undefined : (JSON.parse(kv.value) as { status: string }).status;
    };
    await client.create({
      apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name: 'host1-openstack-vm1-eth0', namespace: 'default' },
      spec: { node: 'host1', orchestrator: 'openstack', workload: 'vm1', endpoint: 'eth0', interfaceName: IFACE, ipNetworks: ['192.0.2.10/32'], profiles: [] },
    });
    await waitFor('status up', async () => (await status()) === 'up', 15_000);
    // Its rules are in the kernel by then (up = programmed).
    assert.match(nsExec(hostNs, ['nft', 'list', 'table', 'inet', 'weft']), new RegExp(IFACE));

    nsExec(wlNs, ['ip', 'link', 'set', 'eth0', 'down']);
    await waitFor('status down when the workload side goes down', async () => (await status()) === 'down', 15_000);
    nsExec(wlNs, ['ip', 'link', 'set', 'eth0', 'up']);
    await waitFor('status up again', async () => (await status()) === 'up', 15_000);

    await client.delete({ kind: 'WorkloadEndpoint', name: 'host1-openstack-vm1-eth0', namespace: 'default' });
    await waitFor('key deleted with the endpoint', async () => (await status()) === undefined, 15_000);

    // Re-create, then turn reporting off: this host's endpoint keys are removed.
    await client.create({
      apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name: 'host1-openstack-vm1-eth0', namespace: 'default' },
      spec: { node: 'host1', orchestrator: 'openstack', workload: 'vm1', endpoint: 'eth0', interfaceName: IFACE, ipNetworks: ['192.0.2.10/32'], profiles: [] },
    });
    await waitFor('status up', async () => (await status()) === 'up', 15_000);
    const fc = await client.get('FelixConfiguration', 'default') as unknown as Record<string, unknown> & { spec: Record<string, unknown> };
    await client.replace({ ...fc, spec: { ...fc.spec, endpointReportingEnabled: false } });
    await waitFor('keys removed when reporting is turned off', async () => (await backend!.list(felixHostPrefix('host1'))).items.every((kv) => !kv.key.includes('/workload/')), 15_000);
  });
});
