/**
 * e2e, the scenario on a real lab (src/lab): two hosts, each running `weft node run`
 * (policy + routes between hosts from the IPAM blocks), one SQLite datastore, the seed's v1
 * ipPool manifest; on each host its own dockerd 20.10 and the Weft Docker plugin. Then the seed
 * commands verbatim (with the calico names), ping both ways across hosts with no static route,
 * isolation from another network, container restart, `docker rm` / `docker network rm` leaving
 * nothing behind and `weft ipam check` clean. Prints the time from `docker run` to the first
 * cross-host ping.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, loadTopologyText, type LabState } from '../../src/lab/index.ts';
import { openBackend, resourcePrefix, type Backend } from '../../src/datastore/index.ts';
import { Ipam, ipamCheck } from '../../src/ipam/index.ts';
import { startDockerPlugin, type DockerPlugin } from '../../src/plugins/docker/index.ts';
import { BUSYBOX_IMAGE, dockerdSkipReason, netnsSkipReason, nsRun, startDockerd, type Dockerd } from '../helpers/dockerd.ts';

const skip = netnsSkipReason() || dockerdSkipReason();
const ROOT = new URL('../../', import.meta.url).pathname;

const TOPOLOGY = (name: string): string => `
name: ${name}
hosts: [{name: host1}, {name: host2}]
pools: [{name: other-pool, cidr: 198.51.100.0/24, blockSize: 26}]
resources:
  - examples/seed-ippool.yaml
`;

interface DockerHost {
  name: string;
  ns: string;
  backend: Backend;
  dockerd: Dockerd;
  plugin: DockerPlugin;
}

async function pingUntil(d: Dockerd, container: string, ip: string, tries = 40): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if ((await d.docker(['exec', container, 'ping', '-c', '1', '-W', '1', ip])).code === 0) return true;
  }
  return false;
}

describe('docker plugin on a two-host lab with agents (the issue scenario)', { skip, timeout: 600_000 }, () => {
  const name = `dk${process.pid.toString(36)}`.slice(0, 12);
  let stateRoot = '';
  let lab: LabState | undefined;
  const hosts: DockerHost[] = [];

  before(async () => {
    stateRoot = mkdtempSync(join(tmpdir(), 'weft-dklab-'));
    lab = await labUp(loadTopologyText(TOPOLOGY(name), 'topology', ROOT), { stateRoot, readyTimeoutMs: 90_000 });
    for (const h of lab.hosts) {
      const dockerd = await startDockerd(h.ns);
      const backend = await openBackend({ type: 'sqlite', path: lab.dbPath });
      try {
        await dockerd.importBusybox();
        const plugin = await startDockerPlugin({
          backend,
          host: h.name,
          netns: h.ns,
          pluginDir: dockerd.pluginDir,
          socketDir: join(dockerd.dir, 'plugin'),
          dockerSocket: dockerd.socket,
          calicoAliases: true,
        });
        hosts.push({ name: h.name, ns: h.ns, backend, dockerd, plugin });
      } catch (e) {
        await dockerd.stop();
        await backend.close();
        throw e;
      }
    }
  });

  after(async () => {
    for (const h of hosts) {
      await h.dockerd.docker(['rm', '-f', 'my_workload2', 'my_workload3', 'other3']).catch(() => undefined);
      await h.dockerd.docker(['network', 'rm', 'my_net', 'other_net']).catch(() => undefined);
      await h.plugin.close().catch(() => undefined);
      await h.dockerd.stop().catch(() => undefined);
      await h.backend.close().catch(() => undefined);
    }
    await labDown(name, { stateRoot });
    for (const h of hosts) {
      try {
        rmdirSync(`/etc/netns/${h.ns}`);
      } catch {
        // not empty or already gone
      }
    }
    if (stateRoot !== '') rmSync(stateRoot, { recursive: true, force: true });
  });

  test('seed commands on both hosts; containers ping across hosts both ways (agent routes)', async () => {
    const [h1, h2] = hosts as [DockerHost, DockerHost];
    for (const h of hosts) {
      await h.dockerd.dockerOk(['network', 'create', '--driver', 'calico', '--ipam-driver', 'calico-ipam', '--subnet=192.0.2.0/24', 'my_net']);
    }
    await h1.dockerd.dockerOk(['run', '--net', 'my_net', '--name', 'my_workload2', '--ip', '192.0.2.2', '-tid', BUSYBOX_IMAGE, 'sleep', '3600']);
    const t0 = Date.now();
    await h2.dockerd.dockerOk(['run', '--net', 'my_net', '--name', 'my_workload3', '--ip', '192.0.2.3', '-tid', BUSYBOX_IMAGE, 'sleep', '3600']);
    const ok = await pingUntil(h1.dockerd, 'my_workload2', '192.0.2.3');
    if (!ok) {
      const r1 = nsRun(h1.ns, ['ip', 'route']).stdout;
      const r2 = nsRun(h2.ns, ['ip', 'route']).stdout;
      assert.fail(`host1 → host2 failed.\nhost1 routes:\n${r1}\nhost2 routes:\n${r2}\nagent log host1:\n${readFileSync(lab!.hosts[0]!.log, 'utf8').slice(-2000)}`);
    }
    console.log(`# lab: docker run (host2) → first cross-host ping: ${Date.now() - t0} ms`);
    assert.ok(await pingUntil(h2.dockerd, 'my_workload3', '192.0.2.2'), 'host2 → host1');
    const profiles = await h1.backend.list(resourcePrefix('Profile'));
    assert.equal(profiles.items.filter((kv) => kv.value.includes('docker')).length, 1, 'one Weft network');
  });

  test('a container on another network cannot reach my_net', async () => {
    const [, h2] = hosts as [DockerHost, DockerHost];
    await h2.dockerd.dockerOk(['network', 'create', '--driver', 'weft', '--ipam-driver', 'weft-ipam', '--subnet=198.51.100.0/24', 'other_net']);
    await h2.dockerd.dockerOk(['run', '--net', 'other_net', '--name', 'other3', '-tid', BUSYBOX_IMAGE, 'sleep', '3600']);
    assert.notEqual((await h2.dockerd.docker(['exec', 'other3', 'ping', '-c', '2', '-W', '1', '192.0.2.2'])).code, 0, 'across hosts');
    assert.notEqual((await h2.dockerd.docker(['exec', 'other3', 'ping', '-c', '2', '-W', '1', '192.0.2.3'])).code, 0, 'same host');
  });

  test('container restart keeps cross-host connectivity', async () => {
    const [h1, h2] = hosts as [DockerHost, DockerHost];
    await h2.dockerd.dockerOk(['restart', '-t', '0', 'my_workload3']);
    assert.ok(await pingUntil(h1.dockerd, 'my_workload2', '192.0.2.3'));
  });

  test('docker rm + network rm: no endpoint, no address, no veth; ipam check clean', async () => {
    const [h1, h2] = hosts as [DockerHost, DockerHost];
    await h1.dockerd.dockerOk(['rm', '-f', 'my_workload2']);
    await h2.dockerd.dockerOk(['rm', '-f', 'my_workload3', 'other3']);
    await h1.dockerd.dockerOk(['network', 'rm', 'my_net']);
    await h2.dockerd.dockerOk(['network', 'rm', 'my_net', 'other_net']);
    assert.equal((await h1.backend.list(resourcePrefix('WorkloadEndpoint', 'libnetwork'))).items.length, 0);
    const { report } = await ipamCheck(new Ipam(h1.backend));
    assert.equal(report.summary.allocated, 0, JSON.stringify(report.summary));
    assert.equal(report.summary.problems, 0, JSON.stringify(report));
    for (const h of hosts) assert.doesNotMatch(nsRun(h.ns, ['ip', '-o', 'link', 'show']).stdout, /cali|tmp/, h.name);
  });
});
