/**
 * Running kernel tools (`nft`, `ip`, `sysctl`) as child processes, optionally inside a named
 * network namespace via `ip netns exec`. Every shim in this folder goes through a `CommandRunner`
 * so unit tests can inject a recorder and never touch the kernel.
 */
import { spawn } from 'node:child_process';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';

export interface RunOptions {
  /** Data written to the child's stdin (e.g. an `nft -f -` script). */
  input?: string;
  /** Do not throw on a non-zero exit status; the caller inspects `code`. */
  allowFail?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  /** Network namespace the commands run in; undefined = the caller's own namespace. */
  readonly netns: string | undefined;
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** Real runner: spawns processes, prefixing `ip netns exec <ns>` when a namespace is given. */
export class ExecRunner implements CommandRunner {
  readonly netns: string | undefined;

  constructor(netns?: string) {
    this.netns = netns;
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return runArgv(inNetns(this.netns, argv), opts);
  }
}

/** `argv` as run inside `netns` (`ip netns exec`), or as is for the caller's own namespace. */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns === undefined ? [...argv] : ['ip', 'netns', 'exec', netns, ...argv];
}

export function runArgv(full: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = full;
    if (cmd === undefined) {
      reject(new WeftError(ErrorCodes.INTERNAL, 'empty command'));
      return;
    }
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      reject(new WeftError(ErrorCodes.INTERNAL, `cannot run ${cmd}: ${e.message}`, { cause: e, hint: `is ${cmd} installed and on PATH?` }));
    });
    child.on('close', (code, signal) => {
      const res: RunResult = {
        code: code ?? (signal === null ? 1 : 128),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (res.code !== 0 && opts.allowFail !== true) {
        reject(new WeftError(ErrorCodes.INTERNAL, `${full.join(' ')} failed (exit ${res.code}): ${res.stderr.trim()}`, {
          details: { argv: full, code: res.code, stderr: res.stderr },
        }));
        return;
      }
      resolve(res);
    });
    // A child that exits before reading stdin would raise EPIPE on the stream; the close handler reports it.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Fake runner for unit tests: records argv and input, answers from a handler. */
export class RecordingRunner implements CommandRunner {
  readonly netns: string | undefined;
  readonly calls: { argv: string[]; input: string | undefined }[] = [];
  #handler: (argv: readonly string[], input: string | undefined) => RunResult | undefined;

  constructor(handler: (argv: readonly string[], input: string | undefined) => RunResult | undefined = () => undefined, netns?: string) {
    this.#handler = handler;
    this.netns = netns;
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv: [...argv], input: opts.input });
    const r = this.#handler(argv, opts.input) ?? { code: 0, stdout: '', stderr: '' };
    if (r.code !== 0 && opts.allowFail !== true) {
      return Promise.reject(new WeftError(ErrorCodes.INTERNAL, `${argv.join(' ')} failed (exit ${r.code}): ${r.stderr}`));
    }
    return Promise.resolve(r);
  }
}
