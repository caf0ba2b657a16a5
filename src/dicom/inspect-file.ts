// What `mammocad inspect` reports for one DICOM file: the selection decision and what it is
// based on, the image geometry and encoding, and whether (and how fast) its pixels decode.

import { readFile } from 'node:fs/promises';
import { MammocadError } from '../domain/index.js';
import { readPart10 } from './part10.js';
import { decodeImage } from './pixels/decode-image.js';
import { DEFAULT_SELECTION_POLICY, selectView, type SelectionPolicy, type ViewModifier } from './view-selection.js';

export interface FileInspection {
  file: string;
  status: 'eligible' | 'skipped' | 'failed';
  /** Why skipped, or what failed. */
  reason: string | null;
  /** The error code when failed. */
  code: string | null;
  sopInstanceUid: string | null;
  sopClassUid: string | null;
  modality: string | null;
  laterality: string | null;
  view: string | null;
  modifiers: ViewModifier[];
  rows: number | null;
  columns: number | null;
  transferSyntaxUid: string | null;
  pixelSpacingMm: [number, number] | null;
  decodeMs: number | null;
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : null);

/** Never throws for bad input: a file that cannot be read or decoded is reported as failed. */
export async function inspectFile(file: string, policy: SelectionPolicy = DEFAULT_SELECTION_POLICY): Promise<FileInspection> {
  const report: FileInspection = {
    file, status: 'failed', reason: null, code: null, sopInstanceUid: null, sopClassUid: null, modality: null,
    laterality: null, view: null, modifiers: [], rows: null, columns: null, transferSyntaxUid: null, pixelSpacingMm: null, decodeMs: null,
  };
  try {
    const dicom = readPart10(new Uint8Array(await readFile(file)), file);
    const ds = dicom.dataset;
    const decision = selectView(ds, policy);
    Object.assign(report, {
      status: decision.eligible ? 'eligible' : 'skipped',
      reason: decision.reason ?? null,
      sopInstanceUid: str(ds.SOPInstanceUID),
      sopClassUid: str(ds.SOPClassUID),
      modality: str(ds.Modality),
      laterality: decision.laterality,
      view: decision.view,
      modifiers: decision.modifiers,
      rows: typeof ds.Rows === 'number' ? ds.Rows : null,
      columns: typeof ds.Columns === 'number' ? ds.Columns : null,
      transferSyntaxUid: dicom.transferSyntaxUid,
    });
    // Skipped images are decoded too when they have pixels: inspect is how a site checks that
    // its encodings are readable before they matter.
    if (dicom.hasPixelData) {
      const image = await decodeImage(dicom);
      report.decodeMs = Math.round(image.decodeMs * 10) / 10;
      report.pixelSpacingMm = image.pixelSpacingMm;
    }
  } catch (error) {
    report.status = 'failed';
    report.code = error instanceof MammocadError ? error.code : 'READ_FAILED';
    report.reason = error instanceof Error ? error.message : String(error);
  }
  return report;
}
