/**
 * Best-path selection: RFC 4271 §9.1.2.2 with the RFC 4456 §9 tie-breaks, as an ordered list of
 * small comparators that also say why a path won (gobgp compareBy* + BestPathReason).
 */
import { asPathLength, firstAs } from '../packet/index.ts';
import type { Path } from './types.ts';

export type BestReason =
  | 'only-path' | 'local-pref' | 'local-origin' | 'as-path' | 'origin' | 'med' | 'ebgp-over-ibgp' | 'router-id'
  | 'cluster-list' | 'peer-address';

const DEFAULT_LOCAL_PREF = 100;

function ipNum(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) return 0;
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}

type Cmp = (a: Path, b: Path) => number;

/** Each returns < 0 when `a` is better, > 0 when `b` is, 0 to go on. */
const steps: [BestReason, Cmp][] = [
  ['local-pref', (a, b) => (b.attrs.localPref ?? DEFAULT_LOCAL_PREF) - (a.attrs.localPref ?? DEFAULT_LOCAL_PREF)],
  // Locally originated routes win over learned ones (what BIRD and GoBGP do before AS path length).
  ['local-origin', (a, b) => (a.peer === null ? 0 : 1) - (b.peer === null ? 0 : 1)],
  ['as-path', (a, b) => asPathLength(a.attrs.asPath) - asPathLength(b.attrs.asPath)],
  ['origin', (a, b) => (a.attrs.origin ?? 2) - (b.attrs.origin ?? 2)],
  // §9.1.2.2 c: MED only between routes from the same neighbouring AS; missing MED is 0.
  ['med', (a, b) => {
    const fa = firstAs(a.attrs.asPath);
    if (fa === undefined || fa !== firstAs(b.attrs.asPath)) return 0;
    return (a.attrs.med ?? 0) - (b.attrs.med ?? 0);
  }],
  ['ebgp-over-ibgp', (a, b) => (a.peer?.ebgp ? 0 : 1) - (b.peer?.ebgp ? 0 : 1)],
  // RFC 4456 §9: ORIGINATOR_ID stands in for the BGP Identifier of reflected routes.
  ['router-id', (a, b) => ipNum(a.attrs.originatorId ?? a.peer?.routerId ?? '0.0.0.0') - ipNum(b.attrs.originatorId ?? b.peer?.routerId ?? '0.0.0.0')],
  ['cluster-list', (a, b) => (a.attrs.clusterList?.length ?? 0) - (b.attrs.clusterList?.length ?? 0)],
  ['peer-address', (a, b) => {
    const x = a.peer?.address ?? '';
    const y = b.peer?.address ?? '';
    return x < y ? -1 : x > y ? 1 : 0;
  }],
];

export function compare(a: Path, b: Path): { winner: Path; reason: BestReason } {
  for (const [reason, f] of steps) {
    const d = f(a, b);
    if (d < 0) return { winner: a, reason };
    if (d > 0) return { winner: b, reason };
  }
  return { winner: a, reason: 'peer-address' };
}

/** Picks the best of `paths` (non-empty); returns it with the reason it beat the runner-up. */
export function selectBest(paths: readonly Path[]): { best: Path; reason: BestReason } {
  let best = paths[0];
  let reason: BestReason = 'only-path';
  for (let i = 1; i < paths.length; i++) {
    const r = compare(best, paths[i]);
    best = r.winner;
    reason = r.reason;
  }
  return { best, reason };
}
