/**
 * calicoctl's resource verbs: create, apply, replace, delete, get, patch, label, validate, convert.
 * Flags and messages follow calicoctl v3 so scripts written for it keep working.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { BatchItem, BatchOp, ManifestDocument, OutputFormat, Resource } from '../../api/index.ts';
import type * as ApiModule from '../../api/index.ts';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import type { CliContext } from '../context.ts';

type ContextFor = (cmd: Command) => CliContext;

// The API (zod schemas, YAML) is loaded when a command runs, not when the CLI starts: `--help`
// and the other command groups stay fast.
const OUTPUT_FORMATS: readonly OutputFormat[] = ['yaml', 'json', 'table', 'wide', 'name'];
let api: typeof ApiModule | undefined;
async function loadApi(): Promise<typeof ApiModule> {
  api ??= await import('../../api/index.ts');
  return api;
}

export async function readManifestFile(file: string): Promise<ManifestDocument[]> {
  const { parseManifests } = await loadApi();
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (e) {
    throw new WeftError(ErrorCodes.USAGE, `cannot read ${file === '-' ? 'standard input' : file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'give an existing file with -f FILE, or -f - to read standard input',
    });
  }
  const docs = parseManifests(text, file);
  if (docs.length === 0) {
    throw new WeftError(ErrorCodes.VALIDATION, `${file === '-' ? 'standard input' : file} holds no resources`, {
      hint: 'a manifest needs at least one document with apiVersion, kind and metadata',
    });
  }
  return docs;
}

const PAST: Record<BatchOp, string> = { create: 'created', apply: 'applied', replace: 'replaced', delete: 'deleted' };

/** calicoctl's summary: `Successfully created 1 'IPPool' resource(s)`, one line per kind. */
export function summarise(op: BatchOp | 'validate', items: readonly { kind: string; status?: string }[]): string {
  const verb = op === 'validate' ? 'validated' : PAST[op];
  const byKind = new Map<string, number>();
  let skipped = 0;
  for (const it of items) {
    if (it.status === 'skipped') { skipped++; continue; }
    byKind.set(it.kind, (byKind.get(it.kind) ?? 0) + 1);
  }
  const lines = [...byKind].map(([k, n]) => `Successfully ${verb} ${n} '${k}' resource(s)\n`);
  if (skipped > 0) lines.push(`Skipped ${skipped} resource(s) (${op === 'delete' ? 'not found' : 'already present'})\n`);
  if (lines.length === 0) lines.push(`Successfully ${verb} 0 resource(s)\n`);
  return lines.join('');
}

function parseFormat(o: string): OutputFormat {
  const f = (o === 'ps' ? 'table' : o) as OutputFormat;
  if (!OUTPUT_FORMATS.includes(f)) {
    throw new WeftError(ErrorCodes.USAGE, `unknown output format "${o}"`, { hint: `use one of ${OUTPUT_FORMATS.join(', ')}` });
  }
  return f;
}

interface BatchFlags { filename: string; namespace?: string; skipExists?: boolean; skipNotExists?: boolean }

async function runBatch(ctx: CliContext, op: BatchOp, flags: BatchFlags): Promise<BatchItem[]> {
  const docs = await readManifestFile(flags.filename);
  const { ResourceClient } = await loadApi();
  const client = new ResourceClient(await ctx.backend());
  return client.run(op, docs, { namespace: flags.namespace, skipExists: flags.skipExists, skipNotExists: flags.skipNotExists });
}

function fileOption(cmd: Command, required: boolean): Command {
  const desc = 'manifest file (YAML or JSON, several documents, lists; - for standard input)';
  return required ? cmd.requiredOption('-f, --filename <file>', desc) : cmd.option('-f, --filename <file>', desc);
}

export function registerResourceCommands(program: Command, contextFor: ContextFor): void {
  for (const op of ['create', 'apply', 'replace'] as const) {
    const desc = {
      create: 'create resources from a manifest; fails if any exists (nothing is stored then)',
      apply: 'create resources, or replace those that exist',
      replace: 'replace existing resources (metadata.resourceVersion, when given, must match)',
    }[op];
    const c = program.command(op).description(desc);
    fileOption(c, true).option('-n, --namespace <ns>', 'namespace for namespaced resources that name none');
    if (op === 'create') c.option('--skip-exists', 'skip resources that already exist instead of failing');
    c.action(async (flags: BatchFlags, cmd: Command) => {
      const ctx = contextFor(cmd);
      ctx.out.write(summarise(op, await runBatch(ctx, op, flags)));
    });
  }

  fileOption(program.command('delete').description('delete resources by kind and name, or those in a manifest')
    .argument('[kind]', 'resource kind (ippool, gnp, wep, …)').argument('[names...]', 'resource names'), false)
    .option('-n, --namespace <ns>', 'namespace of namespaced resources (default "default")')
    .option('-s, --skip-not-exists', 'do not fail on resources that do not exist')
    .action(async (kindArg: string | undefined, names: string[], flags: { filename?: string; namespace?: string; skipNotExists?: boolean }, cmd: Command) => {
      const ctx = contextFor(cmd);
      if (flags.filename !== undefined) {
        if (kindArg !== undefined) throw new WeftError(ErrorCodes.USAGE, 'give either KIND NAME… or -f FILE, not both');
        ctx.out.write(summarise('delete', await runBatch(ctx, 'delete', { filename: flags.filename, namespace: flags.namespace, skipNotExists: flags.skipNotExists })));
        return;
      }
      if (kindArg === undefined || names.length === 0) {
        throw new WeftError(ErrorCodes.USAGE, 'delete needs KIND and at least one NAME, or -f FILE', { hint: 'e.g. weft delete ippool 192-0-2-0-24' });
      }
      const { ResourceClient, isNamespacedKind, resolveKind } = await loadApi();
      const kind = resolveKind(kindArg);
      const client = new ResourceClient(await ctx.backend());
      const namespace = isNamespacedKind(kind) ? (flags.namespace ?? 'default') : undefined;
      const done: { kind: string; status: string }[] = [];
      for (const name of names) {
        try {
          await client.delete({ kind, name, namespace });
          done.push({ kind, status: 'deleted' });
        } catch (e) {
          if (flags.skipNotExists && (e as WeftError).code === ErrorCodes.NOT_FOUND) { done.push({ kind, status: 'skipped' }); continue; }
          throw e;
        }
      }
      ctx.out.write(summarise('delete', done));
    });

  fileOption(program.command('get').description('print resources')
    .argument('[kind]', 'resource kind (ippool, gnp, wep, …)').argument('[names...]', 'resource names (default: all)'), false)
    .option('-o, --output <format>', `output format: ${OUTPUT_FORMATS.join('|')}`, 'table')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('-A, --all-namespaces', 'all namespaces')
    .action(async (kindArg: string | undefined, names: string[], flags: { output: string; namespace?: string; allNamespaces?: boolean; filename?: string }, cmd: Command) => {
      const ctx = contextFor(cmd);
      const { ResourceClient, formatResources, isNamespacedKind, resolveKind, toV3 } = await loadApi();
      const format = parseFormat(flags.output);
      let refs: { kind: ReturnType<typeof resolveKind>; name: string; namespace?: string }[] | undefined;
      let kind: ReturnType<typeof resolveKind> | undefined;
      if (flags.filename !== undefined) {
        refs = (await readManifestFile(flags.filename)).map((d) => {
          const r = toV3(d.value, { defaultNamespace: flags.namespace, ref: { document: d.index, source: d.source } });
          return { kind: r.kind, name: r.metadata.name, namespace: (r.metadata as { namespace?: string }).namespace };
        });
      } else {
        if (kindArg === undefined) throw new WeftError(ErrorCodes.USAGE, 'get needs a KIND (e.g. weft get ippools) or -f FILE');
        kind = resolveKind(kindArg);
        const ns = isNamespacedKind(kind) ? (flags.allNamespaces ? undefined : (flags.namespace ?? 'default')) : undefined;
        if (names.length > 0) refs = names.map((name) => ({ kind: kind!, name, namespace: ns }));
        else {
          const client = new ResourceClient(await ctx.backend());
          const { items, revision } = await client.listWithRevision(kind, { namespace: ns });
          ctx.out.write(formatResources(items, format, { list: true, kind, listResourceVersion: String(revision), allNamespaces: !!flags.allNamespaces }));
          return;
        }
      }
      const client = new ResourceClient(await ctx.backend());
      const found: Resource[] = [];
      for (const r of refs) found.push(await client.get(r.kind, r.name, r.namespace));
      ctx.out.write(formatResources(found, format, { kind, allNamespaces: !!flags.allNamespaces }));
    });

  program.command('patch').description('patch a resource with a JSON merge patch (RFC 7386); the result is validated')
    .argument('<kind>').argument('<name>')
    .requiredOption('-p, --patch <json>', 'the patch, e.g. \'{"spec":{"disabled":true}}\'')
    .option('-t, --type <type>', 'patch type: merge (strategic is accepted as merge for calicoctl scripts)', 'merge')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .action(async (kindArg: string, name: string, flags: { patch: string; type: string; namespace?: string }, cmd: Command) => {
      const ctx = contextFor(cmd);
      const { ResourceClient, isNamespacedKind, resolveKind } = await loadApi();
      const kind = resolveKind(kindArg);
      if (flags.type !== 'merge' && flags.type !== 'strategic') {
        throw new WeftError(ErrorCodes.USAGE, `patch type "${flags.type}" is not supported`, { hint: 'use -t merge (JSON merge patch)' });
      }
      let patch: unknown;
      try { patch = JSON.parse(flags.patch); } catch (e) {
        throw new WeftError(ErrorCodes.USAGE, `patch is not JSON: ${(e as Error).message}`, { hint: 'quote it for the shell: -p \'{"spec":{...}}\'' });
      }
      const client = new ResourceClient(await ctx.backend());
      const namespace = isNamespacedKind(kind) ? (flags.namespace ?? 'default') : undefined;
      await client.patch({ kind, name, namespace }, patch);
      ctx.out.write(`Successfully patched 1 '${kind}' resource\n`);
    });

  program.command('label').description('set or remove a label on a resource')
    .argument('<kind>').argument('<name>').argument('<label>', 'key=value to set, or key with --remove')
    .option('--overwrite', 'change the value of an existing label')
    .option('--remove', 'remove the label')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .action(async (kindArg: string, name: string, label: string, flags: { overwrite?: boolean; remove?: boolean; namespace?: string }, cmd: Command) => {
      const ctx = contextFor(cmd);
      const { ResourceClient, isNamespacedKind, resolveKind } = await loadApi();
      const kind = resolveKind(kindArg);
      const eq = label.indexOf('=');
      if (flags.remove ? eq !== -1 : eq <= 0) {
        throw new WeftError(ErrorCodes.USAGE, flags.remove ? 'with --remove give only the label key' : `"${label}" is not key=value`);
      }
      const client = new ResourceClient(await ctx.backend());
      const namespace = isNamespacedKind(kind) ? (flags.namespace ?? 'default') : undefined;
      if (flags.remove) {
        await client.label({ kind, name, namespace }, { remove: [label] });
        ctx.out.write(`Successfully removed label ${label} from ${kind} ${name}\n`);
      } else {
        const key = label.slice(0, eq);
        await client.label({ kind, name, namespace }, { set: { [key]: label.slice(eq + 1) }, overwrite: flags.overwrite });
        ctx.out.write(`Successfully set label ${label} on ${kind} ${name}\n`);
      }
    });

  fileOption(program.command('validate').description('validate a manifest without storing anything'), true)
    .option('-n, --namespace <ns>', 'namespace for namespaced resources that name none')
    .action(async (flags: { filename: string; namespace?: string }, cmd: Command) => {
      const ctx = contextFor(cmd);
      const docs = await readManifestFile(flags.filename);
      const items = await validateDocs(docs, flags.namespace);
      ctx.out.write(summarise('validate', items));
    });

  fileOption(program.command('convert').description('print v1 (Calico 2.x) manifests as v3 resources, as calicoctl convert did'), true)
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .action(async (flags: { filename: string; output: string }, cmd: Command) => {
      const ctx = contextFor(cmd);
      const format = parseFormat(flags.output);
      if (format !== 'yaml' && format !== 'json') throw new WeftError(ErrorCodes.USAGE, 'convert prints yaml or json');
      const docs = await readManifestFile(flags.filename);
      const items = (await validateDocs(docs, undefined)).map((r) => r.resource);
      const { formatResources } = await loadApi();
      ctx.out.write(formatResources(items, format));
    });
}

/** Validates every document, reporting all invalid ones at once (as create would). */
async function validateDocs(docs: ManifestDocument[], namespace: string | undefined): Promise<{ kind: string; resource: Resource }[]> {
  const { toV3 } = await loadApi();
  const out: { kind: string; resource: Resource }[] = [];
  const errors: string[] = [];
  for (const d of docs) {
    try {
      const r = toV3(d.value, { defaultNamespace: namespace, ref: { document: docs.length > 1 ? d.index : undefined, source: d.source } });
      out.push({ kind: r.kind, resource: r });
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length > 0) {
    throw new WeftError(ErrorCodes.VALIDATION, errors.length === 1 ? errors[0] : `${errors.length} of ${docs.length} documents are invalid:\n${errors.map((m) => `  ${m}`).join('\n')}`);
  }
  return out;
}
