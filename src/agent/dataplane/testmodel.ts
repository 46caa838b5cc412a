/** A small but complete model used by unit, golden and root tests. */
import { defaultDpConfig, type DataplaneModel, type DpHostEndpoint, type DpWorkloadEndpoint } from './model.ts';

export function sampleModel(): DataplaneModel {
  const web: DpWorkloadEndpoint = {
    interfaceName: 'cali0000000web',
    ipv4Nets: ['192.0.2.2/32'],
    ipv6Nets: ['2001:db8::2/128'],
    tiers: [{ name: 'default', defaultAction: 'deny', ingressPolicies: ['default.deny-80-from-bad'], egressPolicies: [] }],
    profileIds: ['kns.p1'],
  };
  const db: DpWorkloadEndpoint = {
    interfaceName: 'cali00000000db',
    ipv4Nets: ['192.0.2.3/32'],
    ipv6Nets: [],
    tiers: [],
    profileIds: ['kns.p1'],
    allowSpoofedSourcePrefixes: ['198.51.100.0/24'],
  };
  return {
    config: defaultDpConfig(),
    ipSets: new Map([
      ['s:bad', { type: 'net', members: ['192.0.2.4/32', '192.0.2.0/24', '2001:db8::4'] }],
      ['s:p1-members', { type: 'net', members: ['192.0.2.2', '192.0.2.3'] }],
      ['n:web-http', { type: 'named-port', members: ['192.0.2.2,tcp:8080', '2001:db8::2,tcp:8080'] }],
    ]),
    policies: new Map([
      ['default.deny-80-from-bad', {
        inbound: [
          { action: 'deny', protocol: 6, srcIPSets: ['s:bad'], dstPorts: [{ first: 80, last: 80 }] },
          { action: 'pass', protocol: 1, icmpType: 8 },
          { action: 'allow', protocol: 6, dstPorts: [{ first: 443, last: 443 }], dstNamedPortIPSets: ['n:web-http'] },
        ],
        outbound: [],
      }],
    ]),
    profiles: new Map([
      ['kns.p1', {
        inbound: [{ action: 'allow', srcIPSets: ['s:p1-members'] }, { action: 'allow', protocol: 17, dstPorts: [{ first: 5000, last: 5010 }] }],
        outbound: [{ action: 'allow' }],
      }],
    ]),
    endpoints: new Map([['web', web], ['db', db]]),
    hostEndpoints: new Map([
      ['eth0', { interfaceName: 'eth0', tiers: [], profileIds: [] }],
      ['all', { interfaceName: '*', tiers: [], profileIds: ['kns.p1'] }],
    ]),
    routes: [
      { dst: '192.0.2.2/32', type: 'local-workload', interfaceName: 'cali0000000web' },
      { dst: '192.0.2.0/26', type: 'local-block' },
      { dst: '192.0.2.64/26', type: 'remote-block', gateway: '198.18.0.2' },
    ],
    ipPools: [{ cidr: '192.0.2.0/24', natOutgoing: true }, { cidr: '2001:db8::/64', natOutgoing: false }],
  };
}

export type HostEndpointStage = 'forward' | 'preDNAT' | 'untracked';

/**
 * A host with one workload and a host endpoint on `eth0` carrying one kind of policy beyond its
 * normal tier, plus (forward and pre-DNAT) an all-interfaces host endpoint with the same kind, so
 * the golden files show the per-interface dispatch and the `*` fallback.
 */
export function hostEndpointModel(stage: HostEndpointStage): DataplaneModel {
  const m = sampleModel();
  const tier = (ingress: string[], egress: string[]) => [{ name: 'default', defaultAction: 'deny' as const, ingressPolicies: ingress, egressPolicies: egress }];
  const policies = new Map(m.policies);
  policies.set('hep-normal', { inbound: [{ action: 'allow', protocol: 6, dstPorts: [{ first: 8080, last: 8080 }] }], outbound: [{ action: 'allow' }] });
  const eth0: DpHostEndpoint = { interfaceName: 'eth0', profileIds: [], tiers: tier(['hep-normal'], ['hep-normal']) };
  const hostEndpoints = new Map<string, DpHostEndpoint>();
  if (stage === 'forward') {
    policies.set('hep-fwd', {
      inbound: [{ action: 'allow', protocol: 6, dstPorts: [{ first: 8080, last: 8080 }] }, { action: 'pass', protocol: 1 }],
      outbound: [{ action: 'deny', protocol: 17, dstPorts: [{ first: 53, last: 53 }] }, { action: 'allow' }],
    });
    hostEndpoints.set('eth0', { ...eth0, tiers: tier(['hep-fwd', 'hep-normal'], ['hep-fwd', 'hep-normal']), forwardTiers: tier(['hep-fwd'], ['hep-fwd']) });
    hostEndpoints.set('eth1', { interfaceName: 'eth1', profileIds: [], tiers: [] });
    hostEndpoints.set('all', { interfaceName: '*', profileIds: [], tiers: tier(['hep-fwd'], []), forwardTiers: tier(['hep-fwd'], []) });
  } else if (stage === 'preDNAT') {
    policies.set('hep-prednat', {
      inbound: [{ action: 'deny', protocol: 6, dstPorts: [{ first: 30080, last: 30080 }] }, { action: 'allow', protocol: 6, dstPorts: [{ first: 30443, last: 30443 }] }],
      outbound: [],
    });
    hostEndpoints.set('eth0', { ...eth0, preDNATTiers: tier(['hep-prednat'], []) });
    hostEndpoints.set('eth1', { interfaceName: 'eth1', profileIds: [], tiers: [] });
    hostEndpoints.set('all', { interfaceName: '*', profileIds: [], tiers: [], preDNATTiers: tier(['hep-prednat'], []) });
  } else {
    policies.set('hep-untracked', {
      inbound: [{ action: 'allow', protocol: 6, dstPorts: [{ first: 9090, last: 9090 }] }, { action: 'deny', protocol: 6, dstPorts: [{ first: 9091, last: 9091 }] }],
      outbound: [{ action: 'allow', protocol: 6, srcPorts: [{ first: 9090, last: 9090 }] }],
    });
    hostEndpoints.set('eth0', { ...eth0, untrackedTiers: tier(['hep-untracked'], ['hep-untracked']) });
    hostEndpoints.set('eth1', { interfaceName: 'eth1', profileIds: [], tiers: [], untrackedTiers: tier(['hep-untracked'], []) });
    // felix ignores doNotTrack policy on `*`: no untracked chains for it.
    hostEndpoints.set('all', { interfaceName: '*', profileIds: [], tiers: [], untrackedTiers: tier(['hep-untracked'], ['hep-untracked']) });
  }
  return { ...m, policies, hostEndpoints };
}
