/**
 * The exit status a CLI action wants, kept per command tree. `process.exitCode` is process-wide,
 * and `run()` is also called in-process (tests, the lab), so an action records its status on the
 * root of the command tree it runs in and `run()` returns it after `parseAsync` resolves.
 */
interface TreeNode {
  readonly parent: TreeNode | null;
}

const statuses = new WeakMap<object, number>();

function rootOf(cmd: TreeNode): TreeNode {
  let c = cmd;
  while (c.parent !== null) c = c.parent;
  return c;
}

/** Records `code` (0–255) as the exit status of the run `cmd` belongs to. */
export function setExitStatus(cmd: TreeNode, code: number): void {
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new RangeError(`exit status ${code} is not an integer in 0..255`);
  statuses.set(rootOf(cmd), code);
}

/** The status an action recorded for this tree, or undefined when none did. */
export function exitStatusOf(program: TreeNode): number | undefined {
  return statuses.get(rootOf(program));
}
