/**
 * Weft's Calico v3 resource API.
 *
 * Typical CLI flow:
 * ```ts
 * const docs = parseManifests(text, file);          // ERR_PARSE with line/column
 * const client = new ResourceClient(backend);
 * const items = await client.run('create', docs, { skipExists }); // validates all first
 * process.stdout.write(formatResources(await client.list('IPPool'), 'yaml', { list: true }));
 * ```
 *
 * - Kinds: {@link KINDS}, {@link resolveKind} for command-line aliases (`ipp`, `gnp`, `wep`, …).
 * - Validation: {@link toV3} / {@link validateResource} (one document, v1 or v3),
 *   {@link validateAll} (a batch; throws one ERR_VALIDATION listing every invalid document).
 *   Messages look like `document 2 (IPPool "pool-a"): spec.cidr: "192.0.2.0/33" is not a CIDR`;
 *   `error.details` = {document, kind, name, issues: [{path, message}], invalid?: [...]}.
 * - v1 manifests: {@link convertV1} (as `calicoctl convert`), accepted transparently by toV3 and
 *   by every ResourceClient write.
 * - Storage: {@link ResourceClient} over a datastore Backend.
 * - Output: {@link formatResources}.
 */
export { API_VERSION, KINDS, NAMESPACED_KINDS, isKind, isNamespacedKind, kindAliases, lookupKind, resolveKind, type Kind } from './kinds.ts';
export {
  checkLabelName,
  checkPolicyName,
  checkSubdomainName,
  cidrToName,
  convertName,
  convertNameNoDots,
  convertProfileName,
  ipToName,
  normalizeName,
  workloadEndpointName,
  type WorkloadEndpointIdentifiers,
} from './names.ts';
export { parseManifests, type ManifestDocument } from './manifest.ts';
export {
  SCHEMAS,
  checkV3,
  describeRef,
  formatIssues,
  validationError,
  type BGPConfiguration,
  type BGPPeer,
  type ClusterInformation,
  type DocumentRef,
  type FelixConfiguration,
  type GlobalNetworkPolicy,
  type GlobalNetworkSet,
  type HostEndpoint,
  type IPAMConfiguration,
  type IPPool,
  type IPReservation,
  type NetworkPolicy,
  type NetworkSet,
  type Node,
  type Profile,
  type Resource,
  type ResourceOf,
  type Tier,
  type ValidateOptions,
  type ValidationIssue,
  type ValidationResult,
  type WorkloadEndpoint,
} from './validate.ts';
export { checkDocument, convertV1, toV3, validateAll, validateResource, type InvalidDocument } from './resources.ts';
export { V1_KINDS, convertV1Raw, isV1Document, type V1Kind } from './v1.ts';
export { defaultPolicyTypes, BUILTIN_TIER_ORDERS, type PolicyType } from './schemas/policy.ts';
export type { Rule, EntityRule, Action } from './schemas/rules.ts';
export {
  DEFAULT_ALLOW_PROFILE,
  ResourceClient,
  defaultAllowProfile,
  mergePatch,
  type BatchItem,
  type BatchOp,
  type BatchOptions,
  type LabelChange,
  type ResourceClientOptions,
  type ResourceRef,
} from './client.ts';
export { OUTPUT_FORMATS, formatResources, renderTable, summarizeBatch, toList, type FormatOptions, type OutputFormat } from './format.ts';
