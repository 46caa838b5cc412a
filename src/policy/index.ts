/**
 * Policy core: Calico's rule model, ordering and defaults; the host model the calc graph produces;
 * the packet evaluator and `weft policy trace`. Pure logic, no I/O. See DESIGN.md.
 */
export type * from './resources.ts';
export * from './model.ts';
export {
  PROTOCOL_NUMBERS, parseProtocol, protocolName, compileRule, compileRules, selectorIPSet, namedPortIPSet,
  type IPSetSpec, type CompiledRules,
} from './rules.ts';
export {
  DEFAULT_TIER, DEFAULT_TIER_ORDER, policyId, effectiveTypes, policyDef, profileDef, tierDef, implicitTier,
  compareTiers, comparePolicies, type PolicyDef, type ProfileDef, type TierDef,
} from './defs.ts';
export {
  NAMESPACE_LABEL, NAMESPACE_NAME_LABEL, ORCHESTRATOR_LABEL, ANY_NAMESPACE, compileSelector, makeMatcher,
  namespaceScopeFor, shortHash, type Matcher, type NamespaceScope, type ParsedSelector, type Restriction,
} from './selectors.ts';
export {
  parsePacket, ruleMatches, ruleMismatch, evaluateWorkload, evaluateHost, evaluatePacket, hostEndpointFor,
  type Packet, type ParsedPacket, type TraceStep, type DecidedBy, type EndpointVerdict,
} from './evaluate.ts';
export {
  tracePolicy, formatTrace, type EndpointSpec, type TracePacket, type TraceResult, type SideResult, type ResolvedSide,
} from './trace.ts';
