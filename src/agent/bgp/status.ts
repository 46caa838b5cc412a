/** `weft node status` text, in the shape of `calicoctl node status` (plus prefix counts). Pure. */
import type { BgpStatus } from './agent.ts';

const STATE_TEXT: Record<string, string> = {
  idle: 'start', connect: 'start', active: 'start', opensent: 'start', openconfirm: 'start', established: 'up',
};

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = `+${w.map((n) => '-'.repeat(n + 2)).join('+')}+`;
  const fmt = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  return [line, fmt(head), line, ...rows.map(fmt), line].join('\n');
}

/** Calico prints the time of day for today's transitions, else the date. */
function since(iso: string, now: Date): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().slice(0, 10) === now.toISOString().slice(0, 10) ? d.toISOString().slice(11, 19) : d.toISOString().slice(0, 10);
}

export function formatNodeStatus(s: BgpStatus, now = new Date()): string {
  const out: string[] = ['Weft process is running.', ''];
  if (!s.enabled) {
    out.push('BGP is disabled on this node (flat routing mode).');
    return `${out.join('\n')}\n`;
  }
  if (!s.running) {
    out.push(`BGP speaker is not running${s.reason !== undefined ? `: ${s.reason}` : ''}.`);
    return `${out.join('\n')}\n`;
  }
  out.push(`BGP: AS ${s.asn ?? '?'}, router ID ${s.routerId ?? '?'}, port ${s.listenPort ?? '?'}${s.clusterId !== undefined ? `, route reflector (cluster ${s.clusterId})` : ''}`, '');
  for (const fam of [4, 6] as const) {
    const peers = s.peers.filter((p) => (p.address.includes(':') ? 6 : 4) === fam);
    out.push(`IPv${fam} BGP status`);
    if (peers.length === 0) {
      out.push(`No IPv${fam} peers found.`, '');
      continue;
    }
    const rows = peers.map((p) => [
      p.address,
      `${p.type}${p.rrClient ? ' (rr client)' : ''}`,
      STATE_TEXT[p.state] ?? p.state,
      since(p.since, now),
      p.state === 'established' ? 'Established' : `${p.passive ? 'Passive' : p.state}${p.info !== '' && p.info !== p.state ? ` ${p.info}` : ''}`,
      String(p.prefixesReceived),
      String(p.prefixesAdvertised),
    ]);
    out.push(table(['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO', 'RECEIVED', 'ADVERTISED'], rows), '');
  }
  return `${out.join('\n')}\n`;
}
