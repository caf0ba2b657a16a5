// Marked regions (src/domain/heatmap.ts) for the SR and presentation-state tests: closed,
// clockwise outlines inside a 256 x 256 test mammogram, one with coordinates that are not
// exact 32-bit floats (the reports hold Graphic Data as FL), and the four-view study they mark.

import type { MarkedRegion } from '../../src/domain/heatmap.js';
import { readPart10 } from '../../src/dicom/part10.js';
import type { ReportInput } from '../../src/dicom/sr/index.js';
import { mammogram, newStudyIds, type StudyIds } from './dicom-factory.js';

/** A square region with its top-left corner at (column, row). */
export function squareRegion(score: number, column: number, row: number, side = 40): MarkedRegion {
  const [left, top, right, bottom] = [column, row, column + side, row + side];
  return {
    score,
    center: [left + side / 2, top + side / 2],
    outline: [
      [left, top],
      [right, top],
      [right, bottom],
      [left, bottom],
      [left, top],
    ],
  };
}

/** An irregular region whose coordinates a 32-bit float cannot hold exactly. */
export const IRREGULAR_REGION: MarkedRegion = {
  score: 0.7312345678901234,
  center: [150.1, 60.3],
  outline: [
    [140.2, 50.1],
    [161.7, 52.9],
    [158.35, 71.05],
    [139.9, 68.4],
    [140.2, 50.1],
  ],
};

/** A region as a report holds it: every coordinate rounded to the nearest 32-bit float. */
export function asStored(region: MarkedRegion): MarkedRegion {
  return {
    score: region.score,
    center: [Math.fround(region.center[0]), Math.fround(region.center[1])],
    outline: region.outline.map(([column, row]) => [Math.fround(column), Math.fround(row)]),
  };
}

/**
 * A four-view study (L CC, L MLO, R CC, R MLO; 256 x 256 test mammograms) and a report input
 * for it with the given image probabilities (breast and exam results are their maxima, as the
 * service aggregates), threshold 0.5, and `overrides` (regions, uids, createdAt, ...).
 */
export function fourViewReportInput(
  probabilities: readonly [number, number, number, number],
  options: { patientName?: string; overrides?: Partial<ReportInput> } = {},
): { input: ReportInput; uids: [string, string, string, string]; images: Array<ReturnType<typeof mammogram>>; studyUid: string; ids: StudyIds } {
  const ids = newStudyIds(options.patientName ? { patientName: options.patientName } : undefined);
  const images = (['L', 'R'] as const).flatMap((laterality) => (['CC', 'MLO'] as const).map((view) => mammogram(ids, { laterality, view })));
  const uids = images.map((m) => m.sopInstanceUid) as [string, string, string, string];
  const [lcc, lmlo, rcc, rmlo] = uids;
  const [pLcc, pLmlo, pRcc, pRmlo] = probabilities;
  const [left, right] = [Math.max(pLcc, pLmlo), Math.max(pRcc, pRmlo)];
  return {
    uids,
    images,
    studyUid: ids.studyUid,
    ids,
    input: {
      sources: images.map((m) => readPart10(m.bytes, 'test').dataset),
      imageProbabilities: { [lcc]: pLcc, [lmlo]: pLmlo, [rcc]: pRcc, [rmlo]: pRmlo },
      breasts: { L: { probability: left, sopInstanceUids: [lcc, lmlo] }, R: { probability: right, sopInstanceUids: [rcc, rmlo] } },
      exam: { probability: Math.max(left, right) },
      threshold: 0.5,
      algorithm: { name: 'mammocad', version: 'shen2019-v1', modelVersionId: 'mv-1', modelSha256: 'c'.repeat(64) },
      device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.42' },
      ...options.overrides,
    },
  };
}
