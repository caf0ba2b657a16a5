// One line describing the machine a benchmark ran on, for the tables in docs/benchmarks.md.

import { readFileSync } from 'node:fs';
import os from 'node:os';

export function machine(): string {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown CPU';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '';
  const simd = ['avx512f', 'avx2'].find((flag) => flags.split(' ').includes(flag)) ?? 'no AVX2';
  return `${model} (${simd}), ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}
