/**
 * `NftRunner`: the only way the dataplane talks to nftables. A transaction is one `nft -f -`
 * script, which the kernel applies atomically (all or nothing, nftables netlink batch).
 */
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import type { CommandRunner } from './exec.ts';

/** One entry of `nft -j list …` output's `nftables` array, e.g. `{chain: {...}}`, `{rule: {...}}`. */
export type NftJsonObject = Record<string, Record<string, unknown>>;

export interface NftRunner {
  /** Applies a whole script atomically; rejects (WeftError) with nft's message on failure. */
  apply(script: string): Promise<void>;
  /** `nft -j list table <family> <name>`; undefined when the table does not exist. */
  listTable(family: string, name: string): Promise<NftJsonObject[] | undefined>;
}

export class NftCli implements NftRunner {
  readonly #runner: CommandRunner;
  readonly #nft: string;

  constructor(runner: CommandRunner, nftPath = 'nft') {
    this.#runner = runner;
    this.#nft = nftPath;
  }

  async apply(script: string): Promise<void> {
    const r = await this.#runner.run([this.#nft, '-f', '-'], { input: script, allowFail: true });
    if (r.code !== 0) {
      throw new WeftError(ErrorCodes.INTERNAL, `nft transaction failed: ${r.stderr.trim().slice(0, 2000)}`, {
        details: { netns: this.#runner.netns, stderr: r.stderr },
      });
    }
  }

  async listTable(family: string, name: string): Promise<NftJsonObject[] | undefined> {
    const r = await this.#runner.run([this.#nft, '-j', 'list', 'table', family, name], { allowFail: true });
    if (r.code !== 0) {
      if (/No such file or directory|does not exist/i.test(r.stderr)) return undefined;
      throw new WeftError(ErrorCodes.INTERNAL, `nft list table ${family} ${name} failed: ${r.stderr.trim()}`);
    }
    return parseNftJson(r.stdout);
  }
}

export function parseNftJson(text: string): NftJsonObject[] {
  const doc = JSON.parse(text) as { nftables?: unknown };
  if (!Array.isArray(doc.nftables)) {
    throw new WeftError(ErrorCodes.PARSE, 'nft -j output has no "nftables" array');
  }
  return doc.nftables as NftJsonObject[];
}

/**
 * Fake for unit tests: records every script; `listTable` answers whatever `listing` holds.
 * `failNext` makes the next apply reject, to exercise retry paths.
 */
export class FakeNft implements NftRunner {
  readonly scripts: string[] = [];
  listing: NftJsonObject[] | undefined;
  failNext = 0;
  listCalls = 0;

  apply(script: string): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new WeftError(ErrorCodes.INTERNAL, 'nft transaction failed: injected failure'));
    }
    this.scripts.push(script);
    return Promise.resolve();
  }

  listTable(_family: string, _name: string): Promise<NftJsonObject[] | undefined> {
    this.listCalls++;
    return Promise.resolve(this.listing);
  }
}
