/**
 * The policy rule model (calico-notes §9; api `policy_common.go` Rule / EntityRule) shared by
 * Profile, NetworkPolicy and GlobalNetworkPolicy.
 */
import { z } from 'zod';
import { annotations, cidr, int, issue, protocol, protocolHasPorts, q, rulePort, selector } from './common.ts';

export const ACTIONS = ['Allow', 'Deny', 'Log', 'Pass'] as const;
export type Action = (typeof ACTIONS)[number];

/** Rule action; lower-case v1 spellings are refused with a hint (convert v1 manifests instead). */
export const action = z.string().transform((v, ctx): Action => {
  if ((ACTIONS as readonly string[]).includes(v)) return v as Action;
  const fixed = ACTIONS.find((a) => a.toLowerCase() === v.toLowerCase());
  issue(ctx, [], `${q(v)} is not an action: ${fixed ? `did you mean ${q(fixed)}?` : `use one of ${ACTIONS.join(', ')}`}`);
  return z.NEVER;
});

export const icmpFields = z
  .strictObject({ type: int(0, 254).optional(), code: int(0, 255).optional() })
  .superRefine((v, ctx) => {
    if (v.code !== undefined && v.type === undefined) issue(ctx, ['code'], 'icmp code requires an icmp type');
  });

const nets = z.array(cidr({ allowBare: true })).max(256);
const ports = z.array(rulePort).max(50);

export const entityRule = z
  .strictObject({
    nets: nets.optional(),
    notNets: nets.optional(),
    selector: selector().optional(),
    notSelector: selector().optional(),
    namespaceSelector: selector({ allowGlobal: true }).optional(),
    ports: ports.optional(),
    notPorts: ports.optional(),
    serviceAccounts: z.strictObject({ names: z.array(z.string()).optional(), selector: selector().optional() }).optional(),
    services: z.strictObject({ name: z.string().min(1), namespace: z.string().optional() }).optional(),
  })
  .superRefine((e, ctx) => {
    if (e.services !== undefined) {
      // Calico: a service match stands alone; it resolves to the service's endpoints.
      for (const f of ['nets', 'notNets', 'selector', 'notSelector', 'namespaceSelector', 'serviceAccounts'] as const) {
        if (e[f] !== undefined) issue(ctx, [f], `cannot be combined with services`);
      }
    }
  });

export type EntityRule = z.output<typeof entityRule>;

export const rule = z
  .strictObject({
    action,
    ipVersion: z.union([z.literal(4), z.literal(6)]).optional(),
    protocol: protocol.optional(),
    notProtocol: protocol.optional(),
    icmp: icmpFields.optional(),
    notICMP: icmpFields.optional(),
    source: entityRule.optional(),
    destination: entityRule.optional(),
    http: z
      .strictObject({
        methods: z.array(z.string()).optional(),
        paths: z.array(z.strictObject({ exact: z.string().optional(), prefix: z.string().optional() })).optional(),
      })
      .optional(),
    metadata: z.strictObject({ annotations: annotations.optional() }).optional(),
  })
  .superRefine((r, ctx) => {
    for (const side of ['source', 'destination'] as const) {
      const e = r[side];
      if (e === undefined) continue;
      for (const f of ['ports', 'notPorts'] as const) {
        if (e[f] !== undefined && e[f].length > 0 && !protocolHasPorts(r.protocol)) {
          issue(ctx, [side, f], `ports are only allowed with protocol TCP, UDP or SCTP${r.protocol === undefined ? ' (protocol is not set)' : ` (protocol is ${q(r.protocol)})`}`);
        }
      }
      if (r.ipVersion !== undefined) {
        for (const f of ['nets', 'notNets'] as const) {
          (e[f] ?? []).forEach((n, i) => {
            if ((n.includes(':') ? 6 : 4) !== r.ipVersion) issue(ctx, [side, f, i], `${q(n)} does not match ipVersion ${r.ipVersion}`);
          });
        }
      }
    }
    for (const f of ['icmp', 'notICMP'] as const) {
      if (r[f] === undefined) continue;
      const p = r.protocol;
      if (p !== 'ICMP' && p !== 'ICMPv6' && p !== 1 && p !== 58) {
        issue(ctx, [f], `${f} requires protocol ICMP or ICMPv6`);
      }
    }
    if ((r.protocol === 'ICMP' || r.protocol === 1) && r.ipVersion === 6) issue(ctx, ['protocol'], 'protocol ICMP with ipVersion 6: use ICMPv6');
    if ((r.protocol === 'ICMPv6' || r.protocol === 58) && r.ipVersion === 4) issue(ctx, ['protocol'], 'protocol ICMPv6 with ipVersion 4: use ICMP');
    if (r.http !== undefined && r.action !== 'Allow') issue(ctx, ['http'], 'http match is only allowed with action Allow');
  });

export type Rule = z.output<typeof rule>;

/** At most 1024 rules per direction (calico-notes §9). */
export const rules = z.array(rule).max(1024);
