/**
 * e2e, the scenario on a real lab (src/lab), once with the SQLite datastore and once with
 * etcd (issue 7: "with SQLite and with etcd"): two hosts, each running `weft node run` (policy +
 * routes between hosts from the IPAM blocks), the seed's v1 ipPool manifest; on each host its own
 * dockerd 20.10 and the Weft Docker plugin, run as `ip netns exec <host ns> weft docker-plugin`
 * (as scripts/demo-docker.ts does: an etcd lab's datastore lives in the lab's underlay namespace,
 * reachable only from inside the lab). Then the seed commands verbatim (with the calico names),
 * ping both ways across hosts with no static route, isolation from another network, container
 * restart, `docker rm` / `docker network rm` leaving nothing behind and `weft ipam check` clean.
 * Datastore contents are read through the real CLI (inside the underlay namespace for etcd).
 * Prints the time from `docker run` to the first cross-host ping.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive as alive } from '../../src/lib/process.ts';
import { labDown, labUp, loadTopologyText, type LabState } from '../../src/lab/index.ts';
import { BUSYBOX_IMAGE, dockerdSkipReason, netnsSkipReason, nsRun, startDockerd, type Dockerd } from '../helpers/dockerd.ts';
import { ETCD_BIN } from '../helpers/etcd.ts';
import { checksystemIn, failures } from '../helpers/checksystem.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const WEFT = join(ROOT, 'bin', 'weft');

type DatastoreType = 'sqlite' | 'etcd';

const TOPOLOGY = (name: string, datastore: DatastoreType): string => `
name: ${name}
datastore: ${datastore}
hosts: [{name: host1}, {name: host2}]
pools: [{name: other-pool, cidr: 198.51.100.0/24, blockSize: 26}]
resources:
  - examples/seed-ippool.yaml
`;

interface DockerHost {
  name: string;
  ns: string;
  dockerd: Dockerd;
  plugin?: ChildProcess;
  pluginLog: string;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

interface ListOutput {
  items: { metadata: { name: string; namespace?: string }; spec?: { node?: string } }[];
}

interface CheckReport {
  summary: { allocated: number; problems: number };
}


/** Stops a child started with `detached: true` (its own process group), by its PID. */
async function stopChild(c: ChildProcess | undefined): Promise<void> {
  const pid = c?.pid;
  if (c === undefined || pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-pid, s);
    } catch {
      // gone
    }
  };
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  signal('SIGTERM');
  const t = setTimeout(() => signal('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

function run(argv: readonly string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WEFT_LOG_LEVEL: 'warn' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', (e) => err.push(Buffer.from(String(e))));
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

async function pingUntil(d: Dockerd, container: string, ip: string, tries = 40): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if ((await d.docker(['exec', container, 'ping', '-c', '1', '-W', '1', ip])).code === 0) return true;
  }
  return false;
}

function etcdSkipReason(): string | false {
  return existsSync(ETCD_BIN) ? false : `needs etcd (${ETCD_BIN})`;
}

function dockerLabScenario(datastore: DatastoreType): void {
  const skip = netnsSkipReason() || dockerdSkipReason() || (datastore === 'etcd' && etcdSkipReason());
  describe(`docker plugin on a two-host lab with agents (the issue scenario), ${datastore} datastore`, { skip, timeout: 600_000 }, () => {
    const name = `dk${datastore[0]!}${process.pid.toString(36)}`.slice(0, 12);
    let stateRoot = '';
    let lab: LabState | undefined;
    const hosts: DockerHost[] = [];

    /** `weft --datastore <lab datastore> …`, the real CLI; for etcd inside the underlay namespace (the only place it is reachable from). */
    async function weft(args: readonly string[]): Promise<string> {
      const cli = [WEFT, '--datastore', lab!.datastore, ...args];
      const r = await run(datastore === 'etcd' ? ['ip', 'netns', 'exec', lab!.underlay, ...cli] : cli);
      if (r.code !== 0) throw new Error(`weft ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    }

    const list = async (kind: string): Promise<ListOutput['items']> =>
      (JSON.parse(await weft(['get', kind, '-A', '-o', 'json'])) as ListOutput).items;

    async function startPlugin(h: DockerHost): Promise<void> {
      const d = h.dockerd;
      const fd = openSync(h.pluginLog, 'w');
      try {
        h.plugin = spawn('ip', [
          'netns', 'exec', h.ns, WEFT, '--datastore', lab!.datastore, 'docker-plugin', '--name', h.name, '--calico-aliases',
          '--plugin-dir', d.pluginDir, '--socket-dir', join(d.dir, 'plugin'), '--docker-host', d.socket,
        ], { cwd: ROOT, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, WEFT_LOG_LEVEL: 'warn' } });
      } finally {
        closeSync(fd);
      }
      const wanted = ['weft', 'weft-ipam', 'calico', 'calico-ipam'].map((n) => join(d.pluginDir, `${n}.spec`));
      const end = Date.now() + 60_000;
      while (!wanted.every((f) => existsSync(f)) || !readFileSync(h.pluginLog, 'utf8').includes('serving')) {
        if (!alive(h.plugin.pid) || h.plugin.exitCode !== null || Date.now() > end) {
          throw new Error(`the docker plugin on ${h.name} did not start:\n${readFileSync(h.pluginLog, 'utf8').slice(-2000)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    before(async () => {
      stateRoot = mkdtempSync(join(tmpdir(), `weft-dklab-${datastore}-`));
      lab = await labUp(loadTopologyText(TOPOLOGY(name, datastore), 'topology', ROOT), { stateRoot, readyTimeoutMs: 90_000 });
      assert.equal(lab.datastore.startsWith(datastore === 'etcd' ? 'etcd://' : 'sqlite:'), true, lab.datastore);
      for (const h of lab.hosts) {
        const dockerd = await startDockerd(h.ns);
        const host: DockerHost = { name: h.name, ns: h.ns, dockerd, pluginLog: join(stateRoot, `${h.name}-plugin.log`) };
        hosts.push(host);
        await dockerd.importBusybox();
        await startPlugin(host);
      }
    });

    after(async () => {
      for (const h of hosts) {
        await h.dockerd.docker(['rm', '-f', 'my_workload2', 'my_workload3', 'other3']).catch(() => undefined);
        await h.dockerd.docker(['network', 'rm', 'my_net', 'other_net']).catch(() => undefined);
        await stopChild(h.plugin).catch(() => undefined);
        await h.dockerd.stop().catch(() => undefined);
      }
      await labDown(name, { stateRoot });
      // labDown SIGKILLs the lab's etcd (our child) without waiting: let it be reaped before we exit.
      const etcdPid = lab?.etcdPid;
      for (let i = 0; etcdPid !== undefined && existsSync(`/proc/${etcdPid}`) && i < 100; i++) await new Promise((r) => setTimeout(r, 100));
      const left = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.startsWith(`weft-${name}-`));
      assert.deepEqual(left, [], 'lab namespaces left behind');
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
      console.log(`# lab (${datastore}): docker run (host2) → first cross-host ping: ${Date.now() - t0} ms`);
      assert.ok(await pingUntil(h2.dockerd, 'my_workload3', '192.0.2.2'), 'host2 → host1');
      const profiles = await list('profiles');
      assert.equal(profiles.filter((p) => JSON.stringify(p).includes('docker')).length, 1, 'one Weft network');
      const weps = (await list('workloadendpoints')).filter((w) => w.metadata.namespace === 'libnetwork');
      assert.deepEqual(weps.map((w) => w.spec?.node).sort(), ['host1', 'host2'], 'one endpoint per host, in the datastore');
    });

    test('checksystem: plugin "calico" not found when its spec is gone (seed 002), clean again once back', () => {
      const h = hosts[0]!;
      const global = ['--datastore', lab!.datastore];
      const clean = checksystemIn(h.ns, h.name, { global });
      assert.equal(clean.code, 0, `${failures(clean)}\n${clean.text}`);
      assert.ok(clean.report.checks.some((c) => c.name === 'docker-plugin' && c.status === 'ok' && c.evidence.startsWith('calico:')), clean.text);
      const spec = join(h.dockerd.pluginDir, 'calico.spec');
      renameSync(spec, `${spec}.away`);
      try {
        const gone = checksystemIn(h.ns, h.name, { global });
        assert.equal(gone.code, 1);
        const f = gone.report.checks.find((c) => c.name === 'docker-plugin' && c.status === 'fail');
        assert.ok(f, gone.text);
        assert.match(f.evidence, /plugin "calico" not found/);
        assert.match(f.hint ?? '', /weft docker-plugin --calico-aliases/);
      } finally {
        renameSync(`${spec}.away`, spec);
      }
      const back = checksystemIn(h.ns, h.name, { global });
      assert.equal(back.code, 0, failures(back));
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
      assert.deepEqual((await list('workloadendpoints')).map((w) => w.metadata.name), []);
      const reportFile = join(stateRoot, 'ipam-check.json');
      const text = await weft(['ipam', 'check', '-o', reportFile]);
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as CheckReport;
      assert.equal(report.summary.allocated, 0, JSON.stringify(report.summary));
      assert.equal(report.summary.problems, 0, JSON.stringify(report));
      assert.match(text, /no problems found/);
      for (const h of hosts) assert.doesNotMatch(nsRun(h.ns, ['ip', '-o', 'link', 'show']).stdout, /cali|tmp/, h.name);
    });
  });
}

dockerLabScenario('sqlite');
dockerLabScenario('etcd');
