// The synthetic phantom (src/dicom/convert/synthetic-mammogram.ts) that the demo and a fresh
// clone score instead of research-only data: the same seed gives the same bytes (and pixels
// pinned by hash, so a Node or engine change that moves one bit is caught), the header says
// what it is, and the service's own view selection, header checks, decoder and pixel checks
// take it for a digital For Presentation mammogram within the default model's intended use.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IMAGE_CHECK_DEFAULTS } from '../../src/config/config.schema.js';
import { buildSyntheticMammogram, buildSyntheticStudy, SYNTHETIC_PATIENT_NAME, syntheticPatientId } from '../../src/dicom/convert/synthetic-mammogram.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import { SOP_CLASS } from '../../src/dicom/sop-classes.js';
import { selectView } from '../../src/dicom/view-selection.js';
import { checkHeader, checkPixels, imagingKind, intendedUseOf, type ImageCheckOptions } from '../../src/pipeline/image-checks.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sampleBytes = (samples: Uint16Array) => new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);

describe('buildSyntheticMammogram: deterministic', () => {
  const small = { rows: 300, columns: 256 };

  it('writes the same bytes for the same seed, and different ones for another seed, side or view', () => {
    const first = buildSyntheticMammogram({ seed: 'unit', laterality: 'L', view: 'CC', ...small });
    const again = buildSyntheticMammogram({ seed: 'unit', laterality: 'L', view: 'CC', ...small });
    expect(sha256(again.bytes)).toBe(sha256(first.bytes));
    expect(again.sopInstanceUid).toBe(first.sopInstanceUid);
    for (const other of [
      { seed: 'unit 2', laterality: 'L', view: 'CC' },
      { seed: 'unit', laterality: 'R', view: 'CC' },
      { seed: 'unit', laterality: 'L', view: 'MLO' },
    ] as const) {
      const built = buildSyntheticMammogram({ ...other, ...small });
      expect(sha256(sampleBytes(built.samples))).not.toBe(sha256(sampleBytes(first.samples)));
      expect(built.sopInstanceUid).not.toBe(first.sopInstanceUid);
    }
  });

  it('draws pixels that do not change between machines or Node versions', () => {
    // Pinned: only + - * / and sqrt (exactly rounded by IEEE 754) make them. A deliberate
    // change to the phantom updates these hashes; anything else moving them is a bug.
    const cc = buildSyntheticMammogram({ seed: 'pinned', laterality: 'R', view: 'CC', ...small });
    const mlo = buildSyntheticMammogram({ seed: 'pinned', laterality: 'L', view: 'MLO', ...small });
    expect(sha256(sampleBytes(cc.samples))).toBe('5ca36079dc3f5bf837d93694c763028c86636dfb7dcbf36de637712a36b17b16');
    expect(sha256(sampleBytes(mlo.samples))).toBe('4ba1eff2260f5c92523f5e9cc968de44f56ca2a41d37929287a7138b7b49d7e9');
  });

  it('gives one synthetic woman one study and one series, UIDs under 2.25 derived from the seed', () => {
    const study = buildSyntheticStudy('unit study', { ...small });
    expect(study.map((i) => `${i.laterality} ${i.view}`)).toEqual(['L CC', 'R CC', 'L MLO', 'R MLO']);
    expect(new Set(study.map((i) => i.studyInstanceUid)).size).toBe(1);
    expect(new Set(study.map((i) => i.seriesInstanceUid)).size).toBe(1);
    expect(new Set(study.map((i) => i.sopInstanceUid)).size).toBe(4);
    for (const image of study) {
      for (const uid of [image.studyInstanceUid, image.seriesInstanceUid, image.sopInstanceUid]) expect(uid).toMatch(/^2\.25\.\d{1,39}$/);
    }
    expect(buildSyntheticStudy('another woman', { ...small })[0]!.studyInstanceUid).not.toBe(study[0]!.studyInstanceUid);
  });
});

describe('buildSyntheticMammogram: a digital mammogram to the service', async () => {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'models', 'default', 'manifest.json'), 'utf8')) as Parameters<typeof intendedUseOf>[0];
  const intendedUse = intendedUseOf(manifest);
  const options: ImageCheckOptions = { checks: IMAGE_CHECK_DEFAULTS, intendedUse };
  // The demo's study: default size (1300 x 1000 pixels of 0.1 mm).
  const study = buildSyntheticStudy('unit checks', { studyDate: '20240102' });

  it('the default model declares an intended use to check against', () => {
    expect(intendedUse).toMatchObject({ imaging: 'digital', presentation: 'for-presentation' });
  });

  it.each(study.map((image) => [`${image.laterality} ${image.view}`, image] as const))('%s: says what it is in its header', (_name, image) => {
    const { dataset, transferSyntaxUid } = readPart10(image.bytes, 'synthetic');
    expect(transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(dataset).toMatchObject({
      SOPClassUID: SOP_CLASS.digitalMammographyForPresentation,
      Modality: 'MG',
      PresentationIntentType: 'FOR PRESENTATION',
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: 1300,
      Columns: 1000,
      BitsAllocated: 16,
      BitsStored: 12,
      HighBit: 11,
      PixelRepresentation: 0,
      ImageLaterality: image.laterality,
      PatientID: syntheticPatientId('unit checks'),
      StudyDate: '20240102',
      StudyInstanceUID: image.studyInstanceUid,
      SOPInstanceUID: image.sopInstanceUid,
    });
    expect(dataset.PixelSpacing).toEqual([0.1, 0.1]);
    expect(JSON.stringify(dataset.PatientName)).toContain(SYNTHETIC_PATIENT_NAME);
    expect(String(dataset.SeriesDescription)).toMatch(/SYNTHETIC/);
    const viewCode = (dataset.ViewCodeSequence as Array<Record<string, unknown>>)[0];
    expect(viewCode).toMatchObject({ CodingSchemeDesignator: 'SCT', CodeValue: image.view === 'CC' ? '399162004' : '399368009' });
    expect(imagingKind(dataset).kind).toBe('digital');
  });

  it.each(study.map((image) => [`${image.laterality} ${image.view}`, image] as const))('%s: is selected, passes the header and pixel checks, within the intended use', async (_name, image) => {
    const file = readPart10(image.bytes, 'synthetic');
    const decision = selectView(file.dataset);
    expect(decision).toMatchObject({ eligible: true, laterality: image.laterality, view: image.view });
    const header = checkHeader(file.dataset, decision.view, options);
    expect(header).toMatchObject({ skip: null, flags: [], plausibility: [], intendedUse: [] });
    const decoded = await decodeImage(file);
    expect([decoded.width, decoded.height, decoded.bitsStored]).toEqual([1000, 1300, 12]);
    const pixels = checkPixels(decoded, file.dataset, options);
    expect(pixels.plausibility).toEqual([]);
    expect(pixels.skip).toBeNull();
    // A breast, not a whole-field blob: well inside the checks' 3-98%.
    expect(pixels.measured.breastShare).toBeGreaterThan(0.3);
    expect(pixels.measured.breastShare).toBeLessThan(0.9);
  });

  it.each(study.map((image) => [`${image.laterality} ${image.view}`, image] as const))('%s: has its chest wall on the side its laterality puts it', (_name, image) => {
    const { samples } = image;
    const columns = 1000;
    const columnMean = (column: number) => {
      let sum = 0;
      for (let row = 0; row < 1300; row++) sum += samples[row * columns + column]!;
      return sum / 1300;
    };
    const [chestWall, far] = image.laterality === 'L' ? [columnMean(2), columnMean(columns - 3)] : [columnMean(columns - 3), columnMean(2)];
    expect(chestWall).toBeGreaterThan(500); // tissue
    expect(far).toBeLessThan(100); // the dark background beyond the nipple
  });
});
