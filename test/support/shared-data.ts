// The shared development data, read in place (never copied into the repository). The same
// setting as the service's: MAMMOCAD_SHARED_DATA_DIR, default ../shared/data beside the checkout;
// the pretrained weights sit beside it, in ../shared/weights.
//
// These data sets are research-only and do not travel with a clone, so a test that reads one
// declares it: `describe(name, needsSharedData('mias'), () => ...)` (or the same on an `it`).
// Where the data set is missing the test is skipped, with the data set and the folder looked in
// recorded in its meta for the end-of-run summary (test/support/skip-summary-reporter.ts). With
// MAMMOCAD_REQUIRE_SHARED_DATA=1 (CI) it is not skipped but fails, naming both
// (test/support/shared-data-setup.ts).

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestOptions } from 'vitest';
import { loadConfig } from '../../src/config/index.js';

export const SHARED_DATA_DIR = loadConfig({ env: { MAMMOCAD_SHARED_DATA_DIR: process.env.MAMMOCAD_SHARED_DATA_DIR ?? '' } }).config.sharedDataDir;
export const SHARED_WEIGHTS_DIR = path.join(path.dirname(SHARED_DATA_DIR), 'weights');

/** Set to 1 where every shared data set must be present (CI): a missing one fails its tests. */
export const REQUIRE_SHARED_DATA_VARIABLE = 'MAMMOCAD_REQUIRE_SHARED_DATA';
export const sharedDataRequired = (env: NodeJS.ProcessEnv = process.env): boolean => env[REQUIRE_SHARED_DATA_VARIABLE] === '1';

/** What the tests read, where, and the files whose presence means the data set is there. */
const DATA_SETS = {
  mias: { dir: path.join(SHARED_DATA_DIR, 'mias'), marks: ['labels.txt'] },
  'rsna-screening': { dir: path.join(SHARED_DATA_DIR, 'rsna-screening'), marks: ['manifest.csv', 'images'] },
  dicom: { dir: path.join(SHARED_DATA_DIR, 'dicom'), marks: ['nema-wg04-mg1-j2ki.dcm', 'clunie-mg-explicit-little.dcm'] },
  'mobilenet-weights': { dir: path.join(SHARED_WEIGHTS_DIR, 'mobilenet_v1_0.75_224'), marks: ['model.json'] },
} as const satisfies Record<string, { dir: string; marks: readonly string[] }>;

export type SharedDataSetName = keyof typeof DATA_SETS;

/** A missing data set as test meta carries it to the reporter (plain data: it crosses processes). */
export interface MissingSharedData {
  name: SharedDataSetName;
  /** The folder the data set was looked for in. */
  lookedIn: string;
  /** The first of its files that is not there. */
  missingFile: string;
}

/** Set on a test (or suite) only when a data set it needs is missing. */
export interface SharedDataMeta {
  missing: MissingSharedData[];
  /** MAMMOCAD_REQUIRE_SHARED_DATA=1: the test was not skipped and must fail. */
  required: boolean;
}

declare module 'vitest' {
  interface TaskMeta {
    sharedData?: SharedDataMeta;
  }
}

export interface SharedDataSet {
  name: SharedDataSetName;
  dir: string;
  available: boolean;
  /** Why it is not available; null when it is. */
  missing: MissingSharedData | null;
  /** A file of the data set; throws, naming the data set and the path, when it is not there. */
  file(...parts: string[]): string;
}

export function sharedData(name: SharedDataSetName): SharedDataSet {
  const { dir, marks } = DATA_SETS[name];
  const absent = marks.map((mark) => path.join(dir, mark)).find((file) => !existsSync(file));
  return {
    name,
    dir,
    available: absent === undefined,
    missing: absent === undefined ? null : { name, lookedIn: dir, missingFile: absent },
    file: (...parts) => {
      const file = path.join(dir, ...parts);
      if (!existsSync(file)) throw new Error(`shared data set '${name}' is missing: ${file} is not there (looked in ${dir}; set MAMMOCAD_SHARED_DATA_DIR)`);
      return file;
    },
  };
}

/** `sharedFile('mias', 'labels.txt')`: a file of a shared data set, or an error naming both. */
export function sharedFile(name: SharedDataSetName, ...parts: string[]): string {
  return sharedData(name).file(...parts);
}

/**
 * Options for the `describe` or `it` of tests that read the named data sets. All present: none.
 * One missing: skip, with the missing ones in the meta; under MAMMOCAD_REQUIRE_SHARED_DATA=1 the
 * tests are not skipped and fail naming what is missing: before each test (shared-data-setup.ts),
 * or sooner, in a suite's beforeAll that reads the data through sharedFile (vitest then fails
 * the suite and runs none of its tests).
 * Spread it to add options of your own: `{ ...needsSharedData('mias'), timeout: 300_000 }`.
 */
export function needsSharedData(...names: SharedDataSetName[]): TestOptions {
  const missing = names.map((name) => sharedData(name).missing).filter((m): m is MissingSharedData => m !== null);
  if (missing.length === 0) return {};
  const required = sharedDataRequired();
  // No `skip: false` when required: it would undo a `.skipIf` chained before these options.
  return required ? { meta: { sharedData: { missing, required } } } : { skip: true, meta: { sharedData: { missing, required } } };
}
