// The shared development data, read in place (never copied into the repository). The same
// setting as the service's: MAMMOCAD_SHARED_DATA_DIR, default ../shared/data beside the checkout.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';

export const SHARED_DATA_DIR = loadConfig({ env: { MAMMOCAD_SHARED_DATA_DIR: process.env.MAMMOCAD_SHARED_DATA_DIR ?? '' } }).config.sharedDataDir;

export function sharedFile(...parts: string[]): string {
  const file = path.join(SHARED_DATA_DIR, ...parts);
  if (!existsSync(file)) throw new Error(`shared data file missing: ${file} (set MAMMOCAD_SHARED_DATA_DIR)`);
  return file;
}
