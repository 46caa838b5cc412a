/**
 * e2e, two hosts (seed 001/002 scenario): two network namespaces joined by an underlay link
 * (198.18.0.0/24), each with its own dockerd 20.10 and its own Weft Docker plugin, one datastore
 * (SQLite file opened by both hosts; etcd). The same `docker network create … my_net` on both
 * hosts is one Weft network (one Profile); containers ping across hosts.
 *
 * Each host also runs the agent (`runNode`: policy + local routes). Until the lab and BGP are
 * wired in, the routes BGP would announce are static routes here (each host: the other host's
 * workload /32 via its underlay address).
 */
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, resourceKey, resourcePrefix, type Backend } from '../../src/datastore/index.ts';
import { Ipam, ipamCheck } from '../../src/ipam/index.ts';
import { startDockerPlugin, type DockerPlugin } from '../../src/plugins/docker/index.ts';
import { runNode, type RunningNode } from '../../src/agent/node/index.ts';
import { ExecRunner } from '../../src/agent/netlink/index.ts';
import { BUSYBOX_IMAGE, createNs, deleteNs, dockerdSkipReason, netnsSkipReason, nsExec, nsRun, startDockerd, type Dockerd } from '../helpers/dockerd.ts';
import { ETCD_BIN, startEtcd, type EtcdCluster } from '../helpers/etcd.ts';
import { existsSync } from 'node:fs';

const baseSkip = netnsSkipReason() || dockerdSkipReason();

function pool(name: string, cidr: string): string {
  return JSON.stringify({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name },
    spec: { cidr, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, nodeSelector: 'all()' },
  });
}

interface Host {
  name: string;
  ns: string;
  underlay: string;
  backend: Backend;
  dockerd: Dockerd;
  plugin: DockerPlugin;
  /** `weft node run` equivalent in the host's namespace (policy, local routes). */
  agent: RunningNode | undefined;
}

async function pingUntil(d: Dockerd, container: string, ip: string, tries = 30): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if ((await d.docker(['exec', container, 'ping', '-c', '1', '-W', '1', ip])).code === 0) return true;
  }
  return false;
}

function scenario(kind: 'sqlite' | 'etcd'): void {
  const skip = baseSkip || (kind === 'etcd' && !existsSync(ETCD_BIN) ? skipUnlessAllowed('needs etcd') : false);
  describe(`docker plugin, two hosts, ${kind} datastore`, { skip }, () => {
    const hosts: Host[] = [];
    const namespaces: string[] = [];
    let tmp = '';
    let etcd: EtcdCluster | undefined;

    before(async () => {
      tmp = mkdtempSync(join(tmpdir(), 'wdk2-'));
      if (kind === 'etcd') etcd = await startEtcd();
      const spec = kind === 'sqlite' ? { type: 'sqlite' as const, path: join(tmp, 'weft.db') } : { type: 'etcd' as const, endpoints: etcd!.endpoints };
      const ns1 = createNs('a');
      namespaces.push(ns1);
      const ns2 = createNs('b');
      namespaces.push(ns2);
      // Underlay: one veth between the two hosts.
      nsExec(ns1, ['ip', 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', ns2]);
      const setup: [string, string, string][] = [[ns1, '198.18.0.1', '198.18.0.2'], [ns2, '198.18.0.2', '198.18.0.1']];
      for (const [ns, me] of setup) {
        nsExec(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
        nsExec(ns, ['ip', 'addr', 'add', `${me}/24`, 'dev', 'uplink']);
        nsExec(ns, ['ip', 'link', 'set', 'uplink', 'up']);
        // A default route (to a router that does not exist): proxy ARP for 169.254.1.1 needs one.
        nsExec(ns, ['ip', 'route', 'add', 'default', 'via', '198.18.0.254', 'dev', 'uplink', 'onlink']);
      }
      const seedBackend = await openBackend(spec);
      await seedBackend.put(resourceKey({ kind: 'IPPool', name: 'pool-a' }), pool('pool-a', '192.0.2.0/24'));
      await seedBackend.put(resourceKey({ kind: 'IPPool', name: 'pool-b' }), pool('pool-b', '198.51.100.0/24'));
      // What `weft node run` registers for each host (ipam check flags blocks of unknown hosts).
      for (const [i, [, me]] of setup.entries()) {
        const name = `host${i + 1}`;
        await seedBackend.put(resourceKey({ kind: 'Node', name }), JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name }, spec: { bgp: { ipv4Address: `${me}/24` } } }));
      }
      await seedBackend.close();
      for (const [i, [ns, underlay]] of setup.entries()) {
        const name = `host${i + 1}`;
        const backend = await openBackend(spec);
        const dockerd = await startDockerd(ns);
        await dockerd.importBusybox();
        const plugin = await startDockerPlugin({
          backend,
          host: name,
          ipam: new Ipam(backend),
          netns: ns,
          pluginDir: dockerd.pluginDir,
          socketDir: join(dockerd.dir, 'plugin'),
          dockerSocket: dockerd.socket,
          calicoAliases: true,
        });
        let agent: RunningNode | undefined;
        try {
          agent = await runNode({ datastore: backend, nodeName: name, ip: `${underlay}/24`, noDefaultIpPools: true, health: false, reportingIntervalSecs: 0, shims: { runner: new ExecRunner(ns) } });
          await agent.ready;
        } catch (e) {
          console.log(`# agent on ${name} did not start: ${(e as Error).message}`);
          await agent?.stop().catch(() => undefined);
          agent = undefined;
        }
        hosts.push({ name, ns, underlay, backend, dockerd, plugin, agent });
      }
    });

    after(async () => {
      for (const h of hosts) {
        try {
          await h.dockerd.docker(['rm', '-f', 'my_workload2', 'my_workload3', 'other3']);
          await h.dockerd.docker(['network', 'rm', 'my_net', 'other_net']);
        } catch {
          // best effort
        }
      }
      for (const h of hosts) {
        await h.plugin.close().catch(() => undefined);
        await h.agent?.stop().catch(() => undefined);
        await h.dockerd.stop().catch(() => undefined);
        await h.backend.close().catch(() => undefined);
      }
      for (const ns of namespaces) deleteNs(ns);
      await etcd?.stop();
      if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    });

    test('same network name on both hosts, containers ping across hosts both ways', async () => {
      const [h1, h2] = hosts as [Host, Host];
      for (const h of hosts) {
        await h.dockerd.dockerOk(['network', 'create', '--driver', 'weft', '--ipam-driver', 'weft-ipam', '--subnet=192.0.2.0/24', 'my_net']);
      }
      await h1.dockerd.dockerOk(['run', '--net', 'my_net', '--name', 'my_workload2', '--ip', '192.0.2.2', '-tid', BUSYBOX_IMAGE, 'sleep', '3600']);
      const t0 = Date.now();
      await h2.dockerd.dockerOk(['run', '--net', 'my_net', '--name', 'my_workload3', '--ip', '192.0.2.3', '-tid', BUSYBOX_IMAGE, 'sleep', '3600']);
      // What BGP will announce: each host's workload via that host's underlay address.
      nsExec(h1.ns, ['ip', 'route', 'replace', '192.0.2.3/32', 'via', h2.underlay]);
      nsExec(h2.ns, ['ip', 'route', 'replace', '192.0.2.2/32', 'via', h1.underlay]);
      assert.ok(await pingUntil(h1.dockerd, 'my_workload2', '192.0.2.3'), 'host1 → host2');
      console.log(`# ${kind}: docker run on host2 → first cross-host ping: ${Date.now() - t0} ms`);
      assert.ok(await pingUntil(h2.dockerd, 'my_workload3', '192.0.2.2'), 'host2 → host1');

      const profiles = await h1.backend.list(resourcePrefix('Profile'));
      assert.equal(profiles.items.length, 1, 'one Weft network for the two Docker networks');
      const weps = (await h1.backend.list(resourcePrefix('WorkloadEndpoint'))).items.map((kv) => JSON.parse(kv.value) as { spec: { node: string; profiles: string[] } });
      assert.deepEqual(weps.map((w) => w.spec.node).sort(), ['host1', 'host2']);
      assert.equal(new Set(weps.map((w) => w.spec.profiles[0])).size, 1);
    });

    test('container restart on host2 keeps cross-host connectivity', async () => {
      const [h1, h2] = hosts as [Host, Host];
      await h2.dockerd.dockerOk(['restart', '-t', '0', 'my_workload3']);
      assert.ok(await pingUntil(h1.dockerd, 'my_workload2', '192.0.2.3'));
    });

    test('automatic addresses come from each host\'s own block', async () => {
      const [, h2] = hosts as [Host, Host];
      await h2.dockerd.dockerOk(['network', 'create', '--driver', 'calico', '--ipam-driver', 'calico-ipam', '--subnet=198.51.100.0/24', 'other_net']);
      await h2.dockerd.dockerOk(['run', '--net', 'other_net', '--name', 'other3', '-tid', BUSYBOX_IMAGE, 'sleep', '3600']);
      const ip = await h2.dockerd.dockerOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'other3']);
      assert.match(ip, /^198\.51\.100\.\d+$/);
      const a = await new Ipam(h2.backend).getAssignment(ip);
      assert.equal(a?.host, 'host2');
    });

    test('a container of another network on host2 cannot reach my_net on host1', async () => {
      const [h1, h2] = hosts as [Host, Host];
      assert.ok(h1.agent !== undefined && h2.agent !== undefined, 'agent not running');
      // Route other_net back to host2, so only policy can stop the packets.
      nsExec(h1.ns, ['ip', 'route', 'replace', '198.51.100.0/24', 'via', h2.underlay]);
      assert.notEqual((await h2.dockerd.docker(['exec', 'other3', 'ping', '-c', '1', '-W', '1', '192.0.2.2'])).code, 0);
      assert.ok(await pingUntil(h2.dockerd, 'my_workload3', '192.0.2.2', 10), 'same network across hosts still allowed');
    });

    test('docker rm + network rm on both hosts: no endpoint, no address, no veth; ipam check clean', async () => {
      const [h1, h2] = hosts as [Host, Host];
      await h1.dockerd.dockerOk(['rm', '-f', 'my_workload2']);
      await h2.dockerd.dockerOk(['rm', '-f', 'my_workload3', 'other3']);
      await h1.dockerd.dockerOk(['network', 'rm', 'my_net']);
      await h2.dockerd.dockerOk(['network', 'rm', 'my_net', 'other_net']);
      assert.equal((await h1.backend.list(resourcePrefix('WorkloadEndpoint'))).items.length, 0);
      const { report } = await ipamCheck(new Ipam(h1.backend));
      assert.equal(report.summary.allocated, 0, JSON.stringify(report.summary));
      assert.equal(report.summary.problems, 0, JSON.stringify(report));
      for (const h of hosts) {
        const links = nsRun(h.ns, ['ip', '-o', 'link', 'show']).stdout;
        assert.doesNotMatch(links, /cali|tmp/, `${h.name} has no workload veth left`);
      }
    });
  });
}

scenario('sqlite');
scenario('etcd');
