// What the benchmarks share: the machine's description, repeated timings, CPU ticks.

import { readFileSync } from 'node:fs';
import os from 'node:os';

/** One line describing the machine a benchmark ran on, for the tables in docs/benchmarks.md. */
export function machine(): string {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown CPU';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '';
  const simd = ['avx512f', 'avx2'].find((flag) => flags.split(' ').includes(flag)) ?? 'no AVX2';
  return `${model} (${simd}), ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `task` `runs` times after `warmUps` untimed runs; returns the durations in ms. */
export async function time(runs: number, warmUps: number, task: () => Promise<unknown> | unknown): Promise<number[]> {
  for (let i = 0; i < warmUps; i++) await task();
  const durations: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await task();
    durations.push(performance.now() - started);
  }
  return durations;
}

/** Busy CPU ticks of the whole machine, and of this process (all its threads) and its finished children. */
export function cpuTicks(): { machine: number; own: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const idle = fields[3]! + fields[4]!;
  const machine = fields.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  // Fields after the command name: utime, stime, cutime, cstime are the 12th to 15th.
  const self = readFileSync('/proc/self/stat', 'utf8');
  const own = self.slice(self.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number).reduce((a, b) => a + b, 0);
  return { machine, own };
}
