// Who holds a job, and whether that holder is certainly gone. A worker names itself
// "<host>:<pid>@<pid namespace>-<boot id>" (Linux: two containers on one host can share a host
// name, never a pid namespace; two machines can share a host name and the root namespace's
// number, never a boot id). A running job whose holder is on this host, in this pid
// namespace, and whose process no longer exists (or is a zombie) belonged to a worker that
// crashed or was killed: it can be taken over at once instead of after the stale limit
// (worker.staleAfterSeconds, minutes by default, for holders on other hosts or of unknown
// kind). The check errs on the side of "alive": a pid reused by another process, a holder from
// another host or namespace, or anything it cannot read leaves the job to the stale limit.

import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** The pid namespace of this process ("4026531836"), or '' where there is none to read (not Linux). */
function pidNamespace(): string {
  try {
    return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '';
  } catch {
    return '';
  }
}

/** This boot of this machine (32 hex digits), or '' where there is none to read: the root pid
 * namespace has the same number on every Linux machine, the boot id tells machines apart. */
function bootId(): string {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replace(/-/g, '').toLowerCase();
    return /^[0-9a-f]{32}$/.test(id) ? id : '';
  } catch {
    return '';
  }
}

const NAMESPACE = pidNamespace();
const BOOT = bootId();
/** "<pid namespace>-<boot id>": where a pid means the same process as here. */
const OWN_NAMESPACE = NAMESPACE && BOOT ? `${NAMESPACE}-${BOOT}` : '';

/** The holder name of process `pid` of this host and namespace: "<host>:<pid>", with "@<pid namespace>-<boot id>" where they can be read. */
export function holderIdOf(pid: number): string {
  return `${hostname()}:${pid}${OWN_NAMESPACE ? `@${OWN_NAMESPACE}` : ''}`;
}

/** This process's name as a job holder. */
export function processHolderId(): string {
  return holderIdOf(process.pid);
}

/** The parts of a holder name ("host:pid@ns-boot", optionally followed by "#delivery"); null for other forms. */
export function parseHolderId(holder: string): { host: string; pid: number; namespace: string } | null {
  const match = /^(.+):(\d+)@(\d+-[0-9a-f]{32})(?:#.*)?$/.exec(holder);
  if (!match) return null;
  const pid = Number(match[2]);
  return Number.isSafeInteger(pid) && pid > 0 ? { host: match[1]!, pid, namespace: match[3]! } : null;
}

/** Whether the process `pid` of this namespace exists and has not exited (a zombie has exited). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  try {
    // "<pid> (<name>) <state> ...": the name may hold spaces and parentheses, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc to read: kill() said it exists
  }
}

/**
 * True only when `holder` names a process of this host and pid namespace that no longer runs:
 * its jobs will never be finished by it.
 */
export function holderIsGone(holder: string): boolean {
  const parsed = parseHolderId(holder);
  if (!parsed || !OWN_NAMESPACE || parsed.namespace !== OWN_NAMESPACE || parsed.host !== hostname()) return false;
  if (parsed.pid === process.pid) return false;
  return !processRuns(parsed.pid);
}
