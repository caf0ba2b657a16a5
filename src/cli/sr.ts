// `mammocad sr`: writes a DICOM structured report for the given images, from a score set
// (docs/structured-reports.md) or by scoring the images with the active model under the same
// report policy as the service (src/pipeline/report-policy.ts), for users and validators.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DicomParseError, MammocadError, ValidationError, type JsonValue } from '../domain/index.js';
import { readPart10 } from '../dicom/part10.js';
import { buildStructuredReport, type ReportInput } from '../dicom/sr/index.js';
import { reportInputFromScoreSet } from '../dicom/sr/score-set.js';
import type { ModelRuntime } from '../ml/runtime/index.js';
import { decideReport } from '../pipeline/report-policy.js';
import { scoreFiles, type FilesScore } from '../pipeline/score-files.js';
import { configFrom, reportDevice, withActiveModel } from './context.js';
import { parseTemplate } from './options.js';
import { print, writeWhole } from './output.js';

interface SrOptions {
  scores?: string;
  out: string;
  template?: string;
  json?: boolean;
}

export function registerSrCommand(program: Command): Command {
  return program
    .command('sr')
    .description('write a structured report (DICOM SR) for the given images and a score set, for users and validators')
    .argument('<file...>', 'the source images (DICOM Part 10 files of one study)')
    .option('--scores <file>', 'the score set (JSON; see docs/structured-reports.md); default: score the images with the active model')
    .requiredOption('--out <file>', 'where to write the report (DICOM Part 10)')
    .option('--template <template>', 'TID1500 (Comprehensive SR) or TID4000 (Mammography CAD SR); default: report.template')
    .option('--json', 'print the result as one JSON object')
    .action(async (files: string[], opts: SrOptions, cmd: Command) => srCommand(cmd, files, opts));
}

/** A score set (docs/structured-reports.md) from scoring files with the active model. */
function scoreSetOf(result: FilesScore, runtime: ModelRuntime): unknown {
  const scored = result.images.filter((i) => i.status === 'scored');
  if (scored.length === 0) {
    throw new MammocadError('NO_ELIGIBLE_VIEWS', `no image could be scored: ${result.images.map((i) => `${i.file}: ${i.reason}`).join('; ')}`);
  }
  return {
    images: Object.fromEntries(scored.map((i) => [i.sopInstanceUid, i.probability])),
    threshold: result.threshold,
    model: { version: result.models.join('+'), hash: runtime.members.map((m) => m.packageHash).join('+') },
  };
}

async function srCommand(command: Command, files: string[], opts: SrOptions): Promise<void> {
  const { config } = configFrom(command);
  const template = opts.template === undefined ? config.report.template : parseTemplate(opts.template, '--template');
  const sources = files.map((file) => {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      throw new DicomParseError(file, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return readPart10(bytes, file).dataset;
  });
  let scoreSet: unknown;
  // Scored here with the active model: the same report policy as the service (report-policy.ts).
  let policy: Pick<ReportInput, 'evidence' | 'researchUse' | 'imageFlags' | 'skippedImages'> = {};
  if (opts.scores) {
    try {
      scoreSet = JSON.parse(readFileSync(opts.scores, 'utf8'));
    } catch (error) {
      throw new ValidationError('--scores', `cannot read ${opts.scores} as JSON: ${(error as Error).message}`);
    }
  } else {
    scoreSet = await withActiveModel(command, async (runtime, pkg) => {
      const decision = decideReport({ metrics: pkg.metrics as JsonValue, manifest: pkg.manifestJson }, config.report.researchMode);
      if (!decision.write) throw new MammocadError('REPORT_WITHHELD', `model ${pkg.version}: ${decision.withheldReason!}`);
      const result = await scoreFiles(files, runtime, config.selection, { checks: config.imageChecks, intendedUse: pkg.manifest.intendedUse ?? null }, { decodeAtModelResolution: config.worker.decodeAtModelResolution, decodeResolutionMargin: config.worker.decodeResolutionMargin });
      const flagged = result.images.filter((i) => i.status === 'scored' && i.flags.length > 0 && i.sopInstanceUid);
      const skipped = result.images.filter((i) => i.status === 'skipped' && i.sopInstanceUid && i.reason);
      policy = {
        evidence: decision.evidence,
        ...(decision.researchUse ? { researchUse: decision.researchUse } : {}),
        ...(flagged.length ? { imageFlags: Object.fromEntries(flagged.map((i) => [i.sopInstanceUid!, i.flags])) } : {}),
        ...(skipped.length ? { skippedImages: Object.fromEntries(skipped.map((i) => [i.sopInstanceUid!, i.reason!])) } : {}),
      };
      return scoreSetOf(result, runtime);
    });
  }
  // Everything is checked while building; the file is written only for a complete report,
  // and renamed into place, so a failure never leaves a partial file under the given name.
  const built = buildStructuredReport({ ...reportInputFromScoreSet(sources, scoreSet, reportDevice()), ...policy }, template);
  writeWhole(opts.out, built.bytes);
  const { bytes: _bytes, ...summary } = built;
  print(Boolean(opts.json), { ...summary, out: opts.out, images: files.length }, built.sopInstanceUid);
}
