// What the commands write: one line per result on stdout (the text, or one JSON object with
// --json), the items a command skipped on stderr, and output files written whole under a
// temporary name and renamed into place, so a failed run never leaves a partial file behind.

import { renameSync, writeFileSync } from 'node:fs';
import type { ProgressReporter } from './progress-reporter.js';

/** One line of output on stdout; while a progress line is drawn, through it, so the two stay apart. */
export function print(json: boolean, value: unknown, text: string, progress?: ProgressReporter): void {
  const line = json ? `${JSON.stringify(value)}\n` : `${text}\n`;
  if (progress) progress.write(line, process.stdout);
  else process.stdout.write(line);
}

/** The images (or other items) a command left out, one line each on stderr. */
export function reportSkipped(skipped: ReadonlyArray<{ item: string; reason: string }>): void {
  for (const skip of skipped) process.stderr.write(`mammocad: skipped ${skip.item}: ${skip.reason}\n`);
}

/** Writes `data` to `<file>.partial`, then renames it to `file`: a file under its name is always whole. */
export function writeWhole(file: string, data: string | Uint8Array): void {
  const partial = `${file}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, file);
}
