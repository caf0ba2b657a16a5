// A training run in its own process, for the kill-and-resume test:
//   node --import tsx test/support/train-child.ts <config.json> <run id> <run dir> [epoch delay ms]
// Prints the result as JSON on its last line.

import { readFile } from 'node:fs/promises';
import { parseTrainingConfig, trainModel } from '../../src/training/trainer/index.js';

const [configFile, runId, runDir, delay] = process.argv.slice(2) as [string, string, string, string | undefined];
const config = parseTrainingConfig(JSON.parse(await readFile(configFile, 'utf8')));
const result = await trainModel({
  config,
  runId,
  runDir,
  // Slows the epochs down so that the test can kill the process in the middle of the run.
  afterEpoch: () => new Promise((resolve) => setTimeout(resolve, Number(delay ?? 0))),
});
process.stdout.write(`${JSON.stringify({ version: result.version, packageDir: result.packageDir, resumed: result.resumed, starts: result.starts })}\n`);
process.exit(0);
