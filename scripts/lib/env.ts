// Settings of the scripts (benchmarks, load test) read from the environment.

/** A positive integer from `name`, or `fallback` when unset; anything else stops the script. */
export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer; got ${raw}`);
  return n;
}
