/**
 * Micro benchmark: parse 10k distinct selectors, then 1M evaluations against varied label maps.
 * Prints progress lines and a last line of JSON: {"parse_per_s":…, "eval_per_s":…}.
 */
import { parseSelector, type Labels, type Selector } from '../../src/selector/index.ts';

const PARSES = 10_000;
const EVALS = 1_000_000;

function selectorText(i: number): string {
  const k = `app.kubernetes.io/name-${i % 97}`;
  switch (i % 5) {
    case 0:
      return `${k} == "web-${i % 13}" && has(tier)`;
    case 1:
      return `projectcalico.org/namespace in {"ns-${i % 7}", "ns-${(i + 1) % 7}", 'kube-system'} && !has(quarantine)`;
    case 2:
      return `(role != "db" || env starts with "prod") && ${k} not in {"a", "b"}`;
    case 3:
      return `tier ends with "-${i % 3}" || owner contains "team-${i % 11}"`;
    default:
      return `all() && !(env == "dev" && has(debug)) || zone == "z${i % 4}"`;
  }
}

const texts = Array.from({ length: PARSES }, (_, i) => selectorText(i));
let t0 = process.hrtime.bigint();
const sels: Selector[] = [];
for (const t of texts) sels.push(parseSelector(t));
const parseNs = Number(process.hrtime.bigint() - t0);

const maps: Labels[] = Array.from({ length: 64 }, (_, i) => ({
  tier: i % 2 ? 'frontend-1' : 'backend-2',
  env: i % 3 ? 'production' : 'dev',
  role: i % 5 ? 'web' : 'db',
  'projectcalico.org/namespace': `ns-${i % 7}`,
  [`app.kubernetes.io/name-${i % 97}`]: `web-${i % 13}`,
  ...(i % 4 ? {} : { debug: 'true', owner: 'team-3' }),
}));

let hits = 0;
t0 = process.hrtime.bigint();
for (let i = 0; i < EVALS; i++) {
  if (sels[i % 1000].evaluate(maps[i & 63])) hits++;
}
const evalNs = Number(process.hrtime.bigint() - t0);

const parsePerS = Math.round(PARSES / (parseNs / 1e9));
const evalPerS = Math.round(EVALS / (evalNs / 1e9));
console.log(`parsed ${PARSES} selectors in ${(parseNs / 1e6).toFixed(1)} ms`);
console.log(`evaluated ${EVALS} times in ${(evalNs / 1e6).toFixed(1)} ms (${hits} matches)`);
console.log(JSON.stringify({ parse_per_s: parsePerS, eval_per_s: evalPerS, parses: PARSES, evals: EVALS }));
