// The image checks on their own: header facts (spacing, imaging kind), plausibility from the
// header and from decoded pixels, the intended use of a model, and the configuration. Real
// files where the shared data has them (docs/image-checks.md has the survey of all of them).

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGE_CHECK_DEFAULTS } from '../../src/config/config.schema.js';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/domain/index.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import { SOP_CLASS } from '../../src/dicom/sop-classes.js';
import type { IntendedUse } from '../../src/ml/model-manifest.js';
import { intendedUseSchema } from '../../src/ml/registry/manifest.schema.js';
import {
  DEFAULT_IMAGE_CHECK_OPTIONS,
  checkHeader,
  checkPixels,
  imagingKind,
  intendedUseOf,
  physicalSpacing,
  type ImageCheckOptions,
} from '../../src/pipeline/image-checks.js';
import { geHeaderOnly, miasFilm, syntheticMammogram, vendorMammogram, type VendorStyle } from '../support/check-images.js';
import { newStudyIds } from '../support/dicom-factory.js';
import { SHARED_DATA_DIR, needsSharedData } from '../support/shared-data.js';

const DIGITAL: IntendedUse = { imaging: 'digital', presentation: 'for-presentation', views: ['CC', 'MLO'], notes: 'test' };
const withUse = (intendedUse: IntendedUse | null, outsideIntendedUse: 'skip' | 'score-and-flag' = 'skip'): ImageCheckOptions => ({
  checks: { ...IMAGE_CHECK_DEFAULTS, outsideIntendedUse },
  intendedUse,
});
const mg = (extra: Record<string, unknown> = {}) => ({
  SOPClassUID: SOP_CLASS.digitalMammographyForPresentation,
  Modality: 'MG',
  PresentationIntentType: 'FOR PRESENTATION',
  Rows: 3328,
  Columns: 2560,
  PixelSpacing: [0.07, 0.07],
  ...extra,
});
const decodedFile = async (bytes: Uint8Array) => {
  const file = readPart10(bytes, 'test');
  return { file, decoded: await decodeImage(file) };
};

describe('physicalSpacing (PS3.3 10.7.1.1, C.8.11.4, C.8.11.5)', () => {
  it('takes Pixel Spacing first, else Imager Pixel Spacing over the magnification factor, else Nominal Scanned Pixel Spacing', () => {
    expect(physicalSpacing({ PixelSpacing: [0.25, 0.25], ImagerPixelSpacing: [0.5, 0.5], EstimatedRadiographicMagnificationFactor: 1.5 })).toEqual({ mm: [0.25, 0.25], source: 'Pixel Spacing' });
    expect(physicalSpacing({ ImagerPixelSpacing: [0.15, 0.12], EstimatedRadiographicMagnificationFactor: '1.5' })).toEqual({
      mm: [expect.closeTo(0.1, 12), expect.closeTo(0.08, 12)],
      source: 'Imager Pixel Spacing / Estimated Radiographic Magnification Factor 1.5',
    });
    expect(physicalSpacing({ ImagerPixelSpacing: '0.1\\0.1' })).toEqual({ mm: [0.1, 0.1], source: 'Imager Pixel Spacing' });
    expect(physicalSpacing({ NominalScannedPixelSpacing: [0.05, 0.05] })).toEqual({ mm: [0.05, 0.05], source: 'Nominal Scanned Pixel Spacing' });
    expect(physicalSpacing({ PixelSpacing: [0, 0] })).toBeNull();
    expect(physicalSpacing({})).toBeNull();
  });
});

describe('imagingKind', () => {
  it.each([
    [mg(), 'digital', 'Digital Mammography X-Ray Image storage class'],
    [mg({ DetectorType: 'FILM' }), 'digitised-film', 'Detector Type FILM'],
    [mg({ DetectorType: 'DIRECT' }), 'digital', 'Detector Type DIRECT'],
    [{ SOPClassUID: SOP_CLASS.computedRadiography, Modality: 'MG' }, 'digital', 'Computed Radiography Image storage class'],
    [{ SOPClassUID: SOP_CLASS.secondaryCapture, Modality: 'RG', ConversionType: 'DF' }, 'digitised-film', 'Conversion Type DF (digitized film)'],
    [{ SOPClassUID: SOP_CLASS.secondaryCapture, Modality: 'MG', ConversionType: 'SI' }, 'digitised-film', 'Conversion Type SI (scanned image)'],
    [{ SOPClassUID: SOP_CLASS.secondaryCapture, Modality: 'RG', ConversionType: 'WSD' }, 'digitised-film', 'Modality RG (conventional film/screen radiography)'],
    [{ SOPClassUID: SOP_CLASS.secondaryCapture, Modality: 'MG', ConversionType: 'DI' }, 'digital', 'Conversion Type DI (digital interface)'],
    [{ SOPClassUID: SOP_CLASS.secondaryCapture, Modality: 'MG', ConversionType: 'WSD' }, 'unknown', 'a Secondary Capture with Conversion Type WSD'],
  ])('%j is %s', (ds, kind, evidence) => {
    expect(imagingKind(ds)).toEqual({ kind, evidence });
  });
});

describe('checkHeader', () => {
  it('skips the GE header with 1 x 2 pixels before any pixel data is read', () => {
    const { dataset } = readPart10(geHeaderOnly(newStudyIds()).bytes, 'ge');
    const verdict = checkHeader(dataset, 'CC', DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(verdict.skip).toBe('implausible image: pixel matrix 1 x 2 (rows x columns) is below 256 x 256');
    expect(verdict.plausibility.map((p) => p.check)).toEqual(['matrix']);
  });

  it('skips a field of view no breast detector has, and says which spacing it used', () => {
    expect(checkHeader(mg({ Rows: 512, Columns: 512, PixelSpacing: [0.05, 0.05] }), 'CC', DEFAULT_IMAGE_CHECK_OPTIONS).skip).toBe(
      'implausible image: field of view 25.6 x 25.6 mm (512 x 512 pixels of 0.05 x 0.05 mm, Pixel Spacing) is outside 50-500 mm per side',
    );
    const magnified = mg({ PixelSpacing: undefined, Rows: 4096, Columns: 3328, ImagerPixelSpacing: [0.2, 0.2], EstimatedRadiographicMagnificationFactor: 1.2 });
    expect(checkHeader(magnified, 'CC', DEFAULT_IMAGE_CHECK_OPTIONS).skip).toMatch(/^implausible image: field of view 682.7 x 554.7 mm .*Imager Pixel Spacing \/ Estimated Radiographic Magnification Factor 1.2\)/);
  });

  it('accepts every detector size from 18 x 24 cm at 0.05 mm to 35 x 43 cm at 0.1 mm, and an image without spacing (noted)', () => {
    for (const [rows, columns, spacing] of [[4800, 3600, 0.05], [3328, 2560, 0.07], [4096, 3328, 0.085], [4300, 3500, 0.1], [1024, 1024, 0.2]] as const) {
      expect(checkHeader(mg({ Rows: rows, Columns: columns, PixelSpacing: [spacing, spacing] }), 'MLO', DEFAULT_IMAGE_CHECK_OPTIONS).skip).toBeNull();
    }
    const verdict = checkHeader(mg({ PixelSpacing: undefined, Rows: 640, Columns: 640 }), 'CC', DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(verdict.skip).toBeNull();
    expect(verdict.notes).toEqual([expect.stringContaining('no pixel spacing in the header')]);
  });

  it('skips an input outside the intended use by default, and flags it when configured to score and flag', () => {
    const film = mg({ DetectorType: 'FILM' });
    expect(checkHeader(film, 'MLO', withUse(DIGITAL))).toMatchObject({
      skip: "outside the model's intended use: a digitised film (Detector Type FILM); the model is for digital mammograms",
      flags: [],
    });
    expect(checkHeader(film, 'MLO', withUse(DIGITAL, 'score-and-flag'))).toMatchObject({
      skip: null,
      flags: ["outside the model's intended use: a digitised film (Detector Type FILM); the model is for digital mammograms"],
    });
    // Without a declaration (or for an ensemble) nothing is checked.
    expect(checkHeader(film, 'MLO', withUse(null))).toMatchObject({ skip: null, flags: [] });
    // Implausible beats outside the intended use, whatever the configuration: never scored.
    expect(checkHeader(mg({ DetectorType: 'FILM', Rows: 2 }), 'MLO', withUse(DIGITAL, 'score-and-flag')).skip).toMatch(/^implausible image: pixel matrix 2 x 2560/);
  });

  it('checks the declared views, presentation and pixel-size range', () => {
    const narrow: IntendedUse = { ...DIGITAL, views: ['CC'], pixelSpacingMm: [0.05, 0.1] };
    expect(checkHeader(mg({ PixelSpacing: [0.2, 0.2], Rows: 1024, Columns: 1024 }), 'MLO', withUse(narrow)).skip).toBe(
      "outside the model's intended use: view MLO; the model is for CC; pixel spacing 0.2 x 0.2 mm (Pixel Spacing); the model is for 0.05-0.1 mm",
    );
    expect(checkHeader(mg(), 'CC', withUse(narrow)).skip).toBeNull();
    expect(checkHeader(mg({ PixelSpacing: undefined, Rows: 640, Columns: 640 }), 'CC', withUse(narrow)).notes).toContainEqual(expect.stringContaining("the model's pixel-size range 0.05-0.1 mm not checked"));
    expect(checkHeader(mg(), 'CC', withUse({ ...DIGITAL, presentation: 'for-processing' })).skip).toBe(
      "outside the model's intended use: a For Presentation image; the model is for For Processing images",
    );
    expect(checkHeader({ ...mg(), SOPClassUID: SOP_CLASS.secondaryCapture, ConversionType: 'WSD' }, 'CC', withUse(DIGITAL)).skip).toMatch(
      /^outside the model's intended use: whether the image is digital or digitised film cannot be told from the header/,
    );
  });
});

describe('checkPixels', () => {
  it('passes a plausible full-size mammogram', async () => {
    const { file, decoded } = await decodedFile(syntheticMammogram(newStudyIds(), 'breast').bytes);
    const verdict = checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(verdict.skip).toBeNull();
    expect(verdict.measured.breastShare).toBeGreaterThan(0.25);
    expect(verdict.measured.breastShare).toBeLessThan(0.45);
  });

  it.each([
    ['constant', /^implausible image: constant image \(every pixel is 1000\)$/],
    ['blank', /^implausible image: mostly blank: 99.\d+% of the pixels are at the minimum value 0 \(at most 98%\); .*the breast region .* covers 0.\d+% of the image/],
    ['saturated', /^implausible image: mostly saturated: 99.\d+% of the pixels are at the maximum value 4095 \(at most 98%\)/],
  ] as const)('skips a %s image', async (kind, reason) => {
    const { file, decoded } = await decodedFile(syntheticMammogram(newStudyIds(), kind).bytes);
    expect(checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS).skip).toMatch(reason);
  });

  it('skips an image with few grey levels or a sliver of its stored depth', () => {
    const width = 512;
    const pixels = new Float32Array(width * width);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i % width) < 200 ? 0 : 8 + ((i * 7) % 5);
    const few = checkPixels({ width, height: width, pixels, bitsStored: 16 }, {}, DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(few.plausibility.map((p) => p.check)).toEqual(['grey-levels', 'stored-depth']);
    expect(few.skip).toContain('only 6 distinct grey levels (at least 16)');
    expect(few.skip).toContain('the grey range 0-12 spans 0.0183% of the stored bit depth (at least 0.0977%)');
  });
});

describe('intended use in the manifest', () => {
  it('takes an optional pixel-size range [min, max]', () => {
    expect(intendedUseSchema.safeParse({ ...DIGITAL, pixelSpacingMm: [0.05, 0.1] }).success).toBe(true);
    expect(intendedUseSchema.safeParse({ ...DIGITAL, pixelSpacingMm: [0.1, 0.05] }).success).toBe(false);
    expect(intendedUseSchema.safeParse({ ...DIGITAL, pixelSpacingMm: [0, 0.1] }).success).toBe(false);
  });

  it('is read from a model version record, or null when absent or invalid', () => {
    expect(intendedUseOf({ version: 'x', intendedUse: { ...DIGITAL } })).toEqual(DIGITAL);
    expect(intendedUseOf({ version: 'x' })).toBeNull();
    expect(intendedUseOf({ intendedUse: { imaging: 'ultrasound' } })).toBeNull();
    expect(intendedUseOf(null)).toBeNull();
  });
});

describe('imageChecks configuration', () => {
  it('has the documented defaults, read from a file or the environment', () => {
    expect(loadConfig({ env: {}, cwd: '/srv' }).config.imageChecks).toEqual({
      plausibility: { minMatrix: 256, fieldOfViewMm: [50, 500], minGreyLevels: 16, minUsedDepthFraction: 1 / 1024, maxExtremeShare: 0.98, breastThreshold: 0.1, breastShare: [0.03, 0.98] },
      outsideIntendedUse: 'skip',
    });
    const config = loadConfig({ env: { MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE: 'score-and-flag' }, cwd: '/srv' }).config.imageChecks;
    expect(config.outsideIntendedUse).toBe('score-and-flag');
    expect(config.plausibility.minMatrix).toBe(256);
  });

  it('refuses bad values naming the key', () => {
    const error = (env: Record<string, string>) => {
      try {
        loadConfig({ env, cwd: '/srv' });
      } catch (caught) {
        if (caught instanceof ConfigError) return caught.message;
      }
      return 'no error';
    };
    expect(error({ MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE: 'ignore' })).toBe(
      "imageChecks.outsideIntendedUse ($MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE): must be one of skip, score-and-flag; got \"ignore\"",
    );
  });
});

const miasDir = path.join(SHARED_DATA_DIR, 'mias');
const rsnaDir = path.join(SHARED_DATA_DIR, 'rsna-screening', 'images');
const dicomDir = path.join(SHARED_DATA_DIR, 'dicom');

describe('real files (a sample; scripts/image-checks-survey.ts runs them all)', () => {
  it('passes mini-MIAS films and the DDSM film of NEMA WG04 as plausible, and knows them for film', needsSharedData('mias', 'dicom'), async () => {
    const films = readdirSync(miasDir).filter((f) => f.endsWith('.pgm')).sort().slice(0, 6);
    for (const name of films) {
      const { file, decoded } = await decodedFile(miasFilm(miasDir, name.replace('.pgm', '')).bytes);
      expect(checkHeader(file.dataset, 'MLO', DEFAULT_IMAGE_CHECK_OPTIONS).skip, name).toBeNull();
      expect(checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS).skip, name).toBeNull();
      expect(checkHeader(file.dataset, 'MLO', withUse(DIGITAL)).skip, name).toMatch(/^outside the model's intended use: a digitised film \(Detector Type FILM\)/);
    }
    const { file, decoded } = await decodedFile(new Uint8Array(readFileSync(path.join(dicomDir, 'nema-wg04-mg1-j2ki.dcm'))));
    expect(checkHeader(file.dataset, 'MLO', DEFAULT_IMAGE_CHECK_OPTIONS).skip).toBeNull();
    // Its film base is well above the darkest pixel: the breast region is measured from the background's level.
    const verdict = checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(verdict.skip).toBeNull();
    expect(verdict.measured.breastShare).toBeGreaterThan(0.3);
    expect(imagingKind(file.dataset)).toEqual({ kind: 'digitised-film', evidence: 'Conversion Type DF (digitized film)' });
  });

  it('rejects the Clunie MG sample, a text test object and not a mammogram', needsSharedData('dicom'), async () => {
    const { file, decoded } = await decodedFile(new Uint8Array(readFileSync(path.join(dicomDir, 'clunie-mg-explicit-little.dcm'))));
    expect(checkHeader(file.dataset, 'CC', DEFAULT_IMAGE_CHECK_OPTIONS).skip).toBeNull(); // 512 x 512 of 0.25 mm: a plausible header
    expect(checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS).plausibility.map((p) => p.check)).toEqual(['grey-levels', 'breast-region']);
  });

  it('passes RSNA screening exports wrapped as DICOM', needsSharedData('rsna-screening'), async () => {
    const { readImageFolderDataset } = await import('../../src/training/datasets/image-folder.js');
    const { folderImagesAsDicom } = await import('../support/image-folder-dicom.js');
    const dataset = await readImageFolderDataset(path.dirname(rsnaDir));
    const sample = dataset.images.filter((i) => i.view === 'CC' || i.view === 'MLO').filter((_, index) => index % 250 === 0);
    for (const wrapped of await folderImagesAsDicom(sample, { encoding: 'native', collection: 'rsna-screening' })) {
      const { file, decoded } = await decodedFile(wrapped.bytes);
      expect(checkHeader(file.dataset, wrapped.image.view, withUse(DIGITAL)).skip, wrapped.image.id).toBeNull();
      expect(checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS).skip, wrapped.image.id).toBeNull();
    }
  });
});

// Vendor files the project does not have, built from how each vendor writes its For Presentation
// mammograms (docs/image-checks.md, "Vendors considered"). Matrices and pitches are the vendors'
// published detector sizes; the spacing conventions are the ones PS3.3 allows for MG (Pixel
// Spacing equal to Imager Pixel Spacing, or calibrated to the breast; only Imager Pixel Spacing
// and the magnification factor; a scanned film's nominal spacing).
describe('vendors considered: headers', () => {
  const pair = (value: number) => [value, value];
  const cases: [string, Record<string, unknown>, string | RegExp, 'digital' | 'digitised-film'][] = [
    ['Hologic Selenia 24 x 29 cm, 0.07 mm, Pixel Spacing = Imager Pixel Spacing', { Rows: 4096, Columns: 3328, PixelSpacing: pair(0.07), ImagerPixelSpacing: pair(0.07), DetectorType: 'DIRECT' }, 'Pixel Spacing', 'digital'],
    ['Hologic Dimensions, Pixel Spacing calibrated to the breast (GEOMETRY)', { Rows: 4096, Columns: 3328, PixelSpacing: pair(0.0654), ImagerPixelSpacing: pair(0.07), EstimatedRadiographicMagnificationFactor: 1.07, PixelSpacingCalibrationType: 'GEOMETRY', DetectorType: 'DIRECT' }, 'Pixel Spacing', 'digital'],
    ['Hologic Selenia 18 x 24 cm', { Rows: 3328, Columns: 2560, PixelSpacing: pair(0.07), ImagerPixelSpacing: pair(0.07) }, 'Pixel Spacing', 'digital'],
    ['GE Senographe DS 19 x 23 cm, only Imager Pixel Spacing', { Rows: 2294, Columns: 1914, PixelSpacing: undefined, ImagerPixelSpacing: pair(0.1), DetectorType: 'SCINTILLATOR' }, 'Imager Pixel Spacing', 'digital'],
    ['GE Essential / Pristina 24 x 30 cm, Imager Pixel Spacing over the magnification factor', { Rows: 3062, Columns: 2394, PixelSpacing: undefined, ImagerPixelSpacing: pair(0.1), EstimatedRadiographicMagnificationFactor: '1.1', DetectorType: 'DIRECT' }, 'Imager Pixel Spacing / Estimated Radiographic Magnification Factor 1.1', 'digital'],
    ['Siemens Mammomat 24 x 30 cm, 0.085 mm, magnification factor 1.08', { Rows: 3328, Columns: 4096, PixelSpacing: pair(0.085 / 1.08), ImagerPixelSpacing: pair(0.085), EstimatedRadiographicMagnificationFactor: 1.08, DetectorType: 'DIRECT' }, 'Pixel Spacing', 'digital'],
    ['Fujifilm Amulet 24 x 30 cm, 0.05 mm (5928 x 4728)', { Rows: 5928, Columns: 4728, PixelSpacing: pair(0.05), ImagerPixelSpacing: pair(0.05), DetectorType: 'DIRECT', PhotometricInterpretation: 'MONOCHROME1' }, 'Pixel Spacing', 'digital'],
    ['Philips / Sectra MicroDose, photon counting, Detector Type empty (Type 2)', { Rows: 5200, Columns: 4800, PixelSpacing: pair(0.05), ImagerPixelSpacing: pair(0.05), DetectorType: '' }, 'Pixel Spacing', 'digital'],
    ['Planmed Clarity 24 x 30 cm, 0.085 mm', { Rows: 3584, Columns: 2816, ImagerPixelSpacing: pair(0.085), PixelSpacing: pair(0.085), DetectorType: 'DIRECT' }, 'Pixel Spacing', 'digital'],
    ['Carestream / Kodak CR, CR class, Modality MG, 0.05 mm', { SOPClassUID: SOP_CLASS.computedRadiography, PresentationIntentType: undefined, Rows: 4784, Columns: 3584, PixelSpacing: pair(0.05) }, 'Pixel Spacing', 'digital'],
    ['Kodak CR as DX with Modality MG, Detector Type STORAGE', { SOPClassUID: SOP_CLASS.digitalXRayForPresentation, Rows: 4784, Columns: 3584, PixelSpacing: undefined, ImagerPixelSpacing: pair(0.05), DetectorType: 'STORAGE' }, 'Imager Pixel Spacing', 'digital'],
    ['a DX object with Modality MG (no Detector Type)', { SOPClassUID: SOP_CLASS.digitalXRayForPresentation, Rows: 3328, Columns: 2560 }, 'Pixel Spacing', 'digital'],
    ['Hologic magnification view (1.8): Pixel Spacing corrected', { Rows: 4096, Columns: 3328, PixelSpacing: pair(0.07 / 1.8), ImagerPixelSpacing: pair(0.07), EstimatedRadiographicMagnificationFactor: 1.8 }, 'Pixel Spacing', 'digital'],
    ['Breast Projection X-Ray, spacing in the Shared Functional Groups', { SOPClassUID: SOP_CLASS.breastProjectionXRayForPresentation, Rows: 4096, Columns: 3328, PixelSpacing: undefined, SharedFunctionalGroupsSequence: [{ PixelMeasuresSequence: [{ PixelSpacing: pair(0.07) }] }] }, 'Pixel Spacing (Shared Functional Groups)', 'digital'],
    ['DDSM-style film scan: Secondary Capture, Conversion Type DF, 0.05 mm', { SOPClassUID: SOP_CLASS.secondaryCapture, PresentationIntentType: undefined, ConversionType: 'DF', Rows: 4600, Columns: 3000, PixelSpacing: undefined, NominalScannedPixelSpacing: pair(0.05) }, 'Nominal Scanned Pixel Spacing', 'digitised-film'],
    ['film digitiser written as MG with Detector Type FILM, 0.1 mm', { Rows: 2400, Columns: 1800, PixelSpacing: pair(0.1), DetectorType: 'FILM' }, 'Pixel Spacing', 'digitised-film'],
  ];
  it.each(cases)('%s: plausible, spacing from %j', (_name, attributes, source, kind) => {
    const ds = mg(attributes);
    const verdict = checkHeader(ds, 'MLO', DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(verdict.skip).toBeNull();
    expect(verdict.notes).toEqual([]);
    expect(physicalSpacing(ds)?.source).toEqual(source);
    expect(imagingKind(ds).kind).toBe(kind);
    // Under a digital-only model: films are outside its use, the others within it.
    expect(checkHeader(ds, 'MLO', withUse(DIGITAL)).skip).toEqual(kind === 'digital' ? null : expect.stringMatching(/^outside the model's intended use: a digitised film/));
  });

  it('still stops a Breast Projection X-Ray whose functional groups give an impossible spacing (the GE 74.7 mm case)', () => {
    const ds = mg({ SOPClassUID: SOP_CLASS.breastProjectionXRayForPresentation, Rows: 512, Columns: 512, PixelSpacing: undefined, SharedFunctionalGroupsSequence: [{ PixelMeasuresSequence: [{ PixelSpacing: [74.7, 74.7] }] }] });
    expect(checkHeader(ds, 'CC', DEFAULT_IMAGE_CHECK_OPTIONS).skip).toMatch(/^implausible image: field of view 38250 x 38250 mm .*Pixel Spacing \(Shared Functional Groups\)/);
  });

  it('takes either convention of MG Pixel Spacing as within a declared pixel-size range (detector pitch or calibrated to the breast)', () => {
    // A model declared for the 0.07-0.1 mm detectors it was trained on (Hologic, GE).
    const use: IntendedUse = { ...DIGITAL, pixelSpacingMm: [0.07, 0.1] };
    // Hologic Dimensions writes 0.07 / 1.07 = 0.0654 mm at the breast: within by its detector pitch.
    expect(checkHeader(mg({ Rows: 4096, Columns: 3328, PixelSpacing: [0.0654, 0.0654], ImagerPixelSpacing: [0.07, 0.07] }), 'CC', withUse(use)).skip).toBeNull();
    // GE without Pixel Spacing: 0.1 / 1.1 = 0.0909 at the breast, 0.1 at the detector: within either way.
    expect(checkHeader(mg({ Rows: 3062, Columns: 2394, PixelSpacing: undefined, ImagerPixelSpacing: [0.1, 0.1], EstimatedRadiographicMagnificationFactor: 1.1 }), 'CC', withUse(use)).skip).toBeNull();
    // A 0.05 mm detector is outside at both planes, and the reason names both.
    expect(checkHeader(mg({ Rows: 5928, Columns: 4728, PixelSpacing: [0.0463, 0.0463], ImagerPixelSpacing: [0.05, 0.05] }), 'CC', withUse(use)).skip).toBe(
      "outside the model's intended use: pixel spacing 0.0463 x 0.0463 mm (Pixel Spacing, 0.05 x 0.05 mm at the detector (Imager Pixel Spacing)); the model is for 0.07-0.1 mm",
    );
    expect(checkHeader(mg({ Rows: 5928, Columns: 4728, PixelSpacing: undefined, ImagerPixelSpacing: [0.05, 0.05] }), 'CC', withUse(use)).skip).toBe(
      "outside the model's intended use: pixel spacing 0.05 x 0.05 mm (Imager Pixel Spacing); the model is for 0.07-0.1 mm",
    );
  });

  it('judges a For Processing image by its presentation (the selection skips them first)', () => {
    const forProcessing = mg({ SOPClassUID: SOP_CLASS.digitalMammographyForProcessing, PresentationIntentType: 'FOR PROCESSING', BitsStored: 14 });
    expect(checkHeader(forProcessing, 'CC', DEFAULT_IMAGE_CHECK_OPTIONS).skip).toBeNull();
    expect(checkHeader(forProcessing, 'CC', withUse(DIGITAL)).skip).toBe("outside the model's intended use: a For Processing image; the model is for For Presentation images");
  });
});

describe('vendors considered: pixels, through the decoder', () => {
  const size = { rows: 1024, columns: 832 };
  const styles: [string, VendorStyle][] = [
    ['Hologic: MONOCHROME2, 12 bits, black background', { ...size, manufacturer: 'HOLOGIC, Inc.', bitsStored: 12, breastShare: 0.35, background: 0, tissue: [400, 3000] }],
    ['GE: MONOCHROME1, 14 bits, noisy background', { ...size, manufacturer: 'GE MEDICAL SYSTEMS', bitsStored: 14, photometricInterpretation: 'MONOCHROME1', breastShare: 0.4, background: 200, backgroundNoise: 30, tissue: [3000, 12000] }],
    ['Siemens: MONOCHROME2, 12 bits, background above zero', { ...size, manufacturer: 'SIEMENS', bitsStored: 12, breastShare: 0.45, background: 60, backgroundNoise: 10, tissue: [500, 3500] }],
    ['Fujifilm: MONOCHROME1, 10 bits stored in 16', { ...size, manufacturer: 'FUJIFILM Corporation', bitsStored: 10, photometricInterpretation: 'MONOCHROME1', breastShare: 0.3, background: 0, tissue: [150, 900] }],
    ['Carestream CR: MONOCHROME1, Rescale Slope 0.5, intercept -100', { ...size, manufacturer: 'Carestream Health', bitsStored: 12, photometricInterpretation: 'MONOCHROME1', breastShare: 0.3, background: 0, tissue: [400, 3000], rescaleSlope: 0.5, rescaleIntercept: -100 }],
    ['16 bits stored, a real but narrow range (300-1000)', { ...size, manufacturer: 'x', bitsStored: 16, breastShare: 0.3, background: 100, tissue: [300, 1000] }],
    ['small breast, 5% of a black field (95% at the minimum)', { ...size, manufacturer: 'x', bitsStored: 12, breastShare: 0.05, background: 0, tissue: [400, 3000] }],
    ['small breast, 5% of a noisy field', { ...size, manufacturer: 'x', bitsStored: 12, breastShare: 0.05, background: 60, backgroundNoise: 20, tissue: [300, 2500] }],
    ['implant view: a saturated implant on 25% of the image', { ...size, manufacturer: 'x', bitsStored: 12, breastShare: 0.55, implantShare: 0.25, background: 0, tissue: [400, 3000] }],
    ['Pixel Padding Value 0 beyond the collimator (MONOCHROME2)', { ...size, manufacturer: 'x', bitsStored: 12, breastShare: 0.3, background: 10, backgroundNoise: 5, tissue: [400, 3000], pixelPaddingValue: 0, paddingColumns: 200 }],
    ['Pixel Padding Value 4095 beyond the collimator (MONOCHROME1)', { ...size, manufacturer: 'x', bitsStored: 12, photometricInterpretation: 'MONOCHROME1', breastShare: 0.3, background: 10, tissue: [400, 3000], pixelPaddingValue: 4095, paddingColumns: 200 }],
  ];
  it.each(styles)('passes %s', async (_name, style) => {
    const { file, decoded } = await decodedFile(vendorMammogram(newStudyIds(), style).bytes);
    const verdict = checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(verdict.skip).toBeNull();
    expect(verdict.measured.breastShare).toBeGreaterThan(style.breastShare * 0.8);
    expect(verdict.measured.breastShare).toBeLessThan(style.breastShare * 1.2);
  });

  it('passes a full-size Hologic matrix (4096 x 3328) and measures the same breast share as at 1024 x 832', async () => {
    const { file, decoded } = await decodedFile(vendorMammogram(newStudyIds(), { manufacturer: 'HOLOGIC, Inc.', rows: 4096, columns: 3328, bitsStored: 12, breastShare: 0.3, background: 0, tissue: [400, 3000] }).bytes);
    const verdict = checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS);
    expect(verdict.skip).toBeNull();
    expect(verdict.measured.breastShare).toBeCloseTo(0.3, 1);
  });

  it.each([
    ['a flat field (detector calibration frame, no breast)', { ...size, manufacturer: 'x', bitsStored: 12, breastShare: 0, background: 2000, backgroundNoise: 200, tissue: [0, 0] }, /^implausible image: the breast region .* covers 0.0\d+% of the image/],
    ['a frame that is all Pixel Padding Value (0) but for a 1% speck', { ...size, manufacturer: 'x', bitsStored: 12, breastShare: 0.01, background: 0, tissue: [400, 3000], pixelPaddingValue: 0, paddingColumns: 0 }, /^implausible image: mostly blank: 99(\.\d+)?% of the pixels are at the minimum value/],
  ] as [string, VendorStyle, RegExp][])('skips %s', async (_name, style, reason) => {
    const { file, decoded } = await decodedFile(vendorMammogram(newStudyIds(), style).bytes);
    expect(checkPixels(decoded, file.dataset, DEFAULT_IMAGE_CHECK_OPTIONS).skip).toMatch(reason);
  });
});
