// CBIS-DDSM in the shared training form, from files written in the real formats: the description
// CSVs with their real headers (the mass files spell 'breast_density', the calc files 'breast
// density'; a path field quoted with a newline inside), the TCIA download's folders (which do not
// match the CSV's paths beyond the case folder) and DICOM images and masks written with dcmjs.
// Also the shared pieces every reader uses: CSV, regions, class counts, the MIAS adapter.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/domain/errors.js';
import { cbisCaseFolder, cbisSplitOf, parseCbisDescription, readCbisDdsmDataset } from '../../src/training/datasets/cbis-ddsm.js';
import { parseCsv } from '../../src/training/datasets/csv.js';
import { countClasses, regionFromCircle, regionFromMask, regionFromOutline, type TrainingImage } from '../../src/training/datasets/dataset.js';
import { miasTrainingDataset } from '../../src/training/datasets/mias-training.js';
import { readMiasDataset } from '../../src/training/datasets/mias.js';

const MASS_HEADER = 'patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,mass shape,mass margins,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path';
const CALC_HEADER = 'patient_id,breast density,left or right breast,image view,abnormality id,abnormality type,calc type,calc distribution,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path';
const WIDTH = 64;
const HEIGHT = 48;
const SC = '1.2.840.10008.5.1.4.1.1.7';
let uid = 0;

/** A DICOM file as TCIA serves CBIS-DDSM (Secondary Capture, explicit VR little endian). */
function writeDicom(file: string, pixels: Uint8Array | Uint16Array, width: number, height: number, extra: Record<string, unknown> = {}): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const eight = pixels instanceof Uint8Array;
  const sop = `1.2.826.0.1.3680043.10.1137.77.${process.pid}.${++uid}`;
  const dataset = {
    SOPClassUID: SC,
    SOPInstanceUID: sop,
    StudyInstanceUID: `${sop}.1`,
    SeriesInstanceUID: `${sop}.2`,
    PatientID: 'Mass-Training_P_00001_LEFT_CC',
    Modality: 'MG',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: height,
    Columns: width,
    BitsAllocated: eight ? 8 : 16,
    BitsStored: eight ? 8 : 16,
    HighBit: eight ? 7 : 15,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: eight ? 'OB' : 'OW' },
    ...extra,
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SC,
    MediaStorageSOPInstanceUID: sop,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '1.2.826.0.1.3680043.10.1137.1',
  };
  const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset);
  writeFileSync(file, Buffer.from(dict.write()));
}

/** A film with the breast on the right (so the decoder mirrors it, and the reader must undo that) and one marked pixel. */
function film(): Uint16Array {
  const pixels = new Uint16Array(WIDTH * HEIGHT);
  for (let r = 0; r < HEIGHT; r++) for (let c = 0; c < WIDTH; c++) pixels[r * WIDTH + c] = c >= WIDTH / 2 ? 30000 + r * 10 + c : 100;
  pixels[5 * WIDTH + 60] = 60000;
  return pixels;
}

/** A 0/255 mask with the rectangle rows top..bottom, columns left..right set. */
function mask(top: number, left: number, bottom: number, right: number): Uint8Array {
  const pixels = new Uint8Array(WIDTH * HEIGHT);
  for (let r = top; r <= bottom; r++) for (let c = left; c <= right; c++) pixels[r * WIDTH + c] = 255;
  return pixels;
}

/** A cropped lesion: a small grey image (not binary). */
function cropped(): Uint8Array {
  return Uint8Array.from({ length: 10 * 8 }, (_, i) => (i * 37) % 251);
}

const csvPath = (folder: string) => `${folder}/1.3.6.1.4.1.9590.100.1.2.1/1.3.6.1.4.1.9590.100.1.2.2/000000.dcm`;

let dir: string;
let imageDir: string;
let massCsv: string;
let calcCsv: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mammocad-cbis-'));
  imageDir = path.join(dir, 'CBIS-DDSM');
  // The TCIA layout: <case>/<date>-DDSM-<n>/<n>.000000-<series description>-<n>/1-1.dcm
  writeDicom(path.join(imageDir, 'Mass-Training_P_00001_LEFT_CC/07-20-2016-DDSM-74994/1.000000-full mammogram images-24515/1-1.dcm'), film(), WIDTH, HEIGHT);
  writeDicom(path.join(imageDir, 'Calc-Training_P_00001_LEFT_CC/08-07-2016-DDSM-93228/1.000000-full mammogram images-11111/1-1.dcm'), film(), WIDTH, HEIGHT);
  writeDicom(path.join(imageDir, 'Mass-Test_P_00002_RIGHT_MLO/08-29-2017-DDSM-96009/1.000000-full mammogram images-63992/1-1.dcm'), film(), WIDTH, HEIGHT);
  // One series holding both files, the cropped lesion first (the order varies in the download).
  const roi1 = path.join(imageDir, 'Mass-Training_P_00001_LEFT_CC_1/07-21-2016-DDSM-09887/1.000000-ROI mask images-60577');
  writeDicom(path.join(roi1, '1-1.dcm'), cropped(), 10, 8);
  writeDicom(path.join(roi1, '1-2.dcm'), mask(10, 40, 20, 50), WIDTH, HEIGHT);
  // Two series, named by their descriptions.
  const roi2 = path.join(imageDir, 'Calc-Training_P_00001_LEFT_CC_1/09-06-2017-DDSM-NA-51190');
  writeDicom(path.join(roi2, '1.000000-ROI mask images-03845/1-1.dcm'), mask(30, 3, 33, 12), WIDTH, HEIGHT, { SeriesDescription: 'ROI mask images' });
  writeDicom(path.join(roi2, '2.000000-cropped images-11111/1-1.dcm'), cropped(), 10, 8, { SeriesDescription: 'cropped images' });
  writeDicom(path.join(imageDir, 'Mass-Test_P_00002_RIGHT_MLO_1/08-29-2017-DDSM-NA-86291/1.000000-ROI mask images-17262/1-1.dcm'), mask(0, 0, 0, 0), WIDTH, HEIGHT);

  massCsv = path.join(dir, 'mass_case_description_train_set.csv');
  writeFileSync(
    massCsv,
    [
      MASS_HEADER,
      `P_00001,3,LEFT,CC,1,mass,IRREGULAR,SPICULATED,5,MALIGNANT,5,${csvPath('Mass-Training_P_00001_LEFT_CC')},${csvPath('Mass-Training_P_00001_LEFT_CC_1')},"${csvPath('Mass-Training_P_00001_LEFT_CC_1')}\n"`,
      `P_00002,2,RIGHT,MLO,1,mass,OVAL,CIRCUMSCRIBED,3,BENIGN_WITHOUT_CALLBACK,2,${csvPath('Mass-Test_P_00002_RIGHT_MLO')},${csvPath('Mass-Test_P_00002_RIGHT_MLO_1')},${csvPath('Mass-Test_P_00002_RIGHT_MLO_1')}`,
      '',
    ].join('\r\n'),
  );
  calcCsv = path.join(dir, 'calc_case_description_train_set.csv');
  writeFileSync(calcCsv, `${CALC_HEADER}\nP_00001,3,LEFT,CC,1,calcification,PLEOMORPHIC,CLUSTERED,4,BENIGN,3,${csvPath('Calc-Training_P_00001_LEFT_CC')},${csvPath('Calc-Training_P_00001_LEFT_CC_1')},${csvPath('Calc-Training_P_00001_LEFT_CC_1')}\n`);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A description file with one data row, for the bad-input cases. */
function oneRow(header: string, row: string): string {
  const file = path.join(dir, `bad-${++uid}.csv`);
  writeFileSync(file, `${header}\n${row}\n`);
  return file;
}
const GOOD_ROW = `P_00001,3,LEFT,CC,1,mass,IRREGULAR,SPICULATED,5,MALIGNANT,5,${csvPath('Mass-Training_P_00001_LEFT_CC')},x,${csvPath('Mass-Training_P_00001_LEFT_CC_1')}`;

describe('readCbisDdsmDataset', () => {
  it('joins the mass and calc rows of one film, finds files by case folder, labels by any MALIGNANT', async () => {
    const dataset = await readCbisDdsmDataset({ imageDir, csvFiles: [massCsv, calcCsv] });
    expect(dataset.name).toBe('CBIS-DDSM');
    expect(dataset.skipped).toEqual([]);
    expect(dataset.images.map((i) => [i.id, i.womanId, i.laterality, i.view, i.label, i.malignant, i.imageClass])).toEqual([
      ['P_00001_LEFT_CC', 'P_00001', 'L', 'CC', 1, true, 'malignant'],
      ['P_00002_RIGHT_MLO', 'P_00002', 'R', 'MLO', 0, false, 'benign'],
    ]);
    const [first, second] = dataset.images as [TrainingImage, TrainingImage];
    expect(first.attributes).toEqual({ density: '3', split: 'train' });
    expect(second.attributes).toEqual({ density: '2', split: 'test' });
    // The pixels come from the first collection listed (the mass one).
    expect(first.source).toBe(path.join(imageDir, 'Mass-Training_P_00001_LEFT_CC/07-20-2016-DDSM-74994/1.000000-full mammogram images-24515/1-1.dcm'));
    expect(first.lesions.map((l) => [l.type, l.pathology, l.attributes])).toEqual([
      ['mass', 'malignant', { abnormalityId: '1', pathology: 'MALIGNANT', density: '3', assessment: '5', subtlety: '5', 'mass shape': 'IRREGULAR', 'mass margins': 'SPICULATED' }],
      ['calcification', 'benign', { abnormalityId: '1', pathology: 'BENIGN', density: '3', assessment: '4', subtlety: '3', 'calc type': 'PLEOMORPHIC', 'calc distribution': 'CLUSTERED' }],
    ]);
    expect(second.lesions[0]).toMatchObject({ type: 'mass', pathology: 'benign', attributes: { pathology: 'BENIGN_WITHOUT_CALLBACK' } });
    expect(dataset.classCounts).toEqual({ images: 2, malignant: 1, notMalignant: 1, women: 2, byClass: { normal: 0, benign: 1, malignant: 1, unknown: 0 } });
  });

  it('reads the ROI masks when asked: the binary image of the ROI folder, its box, centre and enclosing radius', async () => {
    const dataset = await readCbisDdsmDataset({ imageDir, csvFiles: [massCsv, calcCsv] });
    const [mass, calc] = await Promise.all(dataset.images[0]!.lesions.map((l) => l.region()));
    // 1-1.dcm (the cropped lesion) comes first in its folder; the mask is 1-2.dcm.
    expect(mass).toEqual({ box: { top: 10, left: 40, bottom: 20, right: 50 }, centre: { row: 15, column: 45 }, radiusPx: Math.hypot(5, 5), outline: null, from: 'mask' });
    expect(calc).toEqual({ box: { top: 30, left: 3, bottom: 33, right: 12 }, centre: { row: 31.5, column: 7.5 }, radiusPx: Math.hypot(1.5, 4.5), outline: null, from: 'mask' });
    // A one-pixel mask at the corner.
    expect(await dataset.images[1]!.lesions[0]!.region()).toMatchObject({ box: { top: 0, left: 0, bottom: 0, right: 0 }, centre: { row: 0, column: 0 }, radiusPx: 0 });
  });

  it('loads the pixels as stored: the decoder mirrors the breast to the left, the reader undoes it', async () => {
    const dataset = await readCbisDdsmDataset({ imageDir, csvFiles: [massCsv] });
    const pixels = await dataset.images[0]!.loadPixels();
    expect([pixels.width, pixels.height, pixels.pixelSpacingMm]).toEqual([WIDTH, HEIGHT, null]);
    expect(pixels.pixels).toBeInstanceOf(Float32Array);
    expect(Array.from(pixels.pixels)).toEqual(Array.from(film()));
  });

  it('refuses a row whose image folder is missing, naming the CSV file and line; or skips the image when asked', async () => {
    const csv = oneRow(MASS_HEADER, `P_00009,3,LEFT,MLO,1,mass,OVAL,OBSCURED,4,MALIGNANT,4,${csvPath('Mass-Training_P_00009_LEFT_MLO')},x,${csvPath('Mass-Training_P_00001_LEFT_CC_1')}`);
    const attempt = readCbisDdsmDataset({ imageDir, csvFiles: [csv] });
    await expect(attempt).rejects.toThrow(DatasetError);
    await expect(readCbisDdsmDataset({ imageDir, csvFiles: [csv] })).rejects.toThrow(`${csv} line 2: no DICOM file for the image under ${path.join(imageDir, 'Mass-Training_P_00009_LEFT_MLO')}`);
    const dataset = await readCbisDdsmDataset({ imageDir, csvFiles: [massCsv, csv], missingFiles: 'skip' });
    expect(dataset.images.map((i) => i.id)).toEqual(['P_00001_LEFT_CC', 'P_00002_RIGHT_MLO']);
    expect(dataset.skipped).toEqual([{ item: 'P_00009_LEFT_MLO', reason: `${csv} line 2: no DICOM file for the image under ${path.join(imageDir, 'Mass-Training_P_00009_LEFT_MLO')}` }]);
  });

  it('refuses a row whose ROI folder is missing', async () => {
    const csv = oneRow(MASS_HEADER, `P_00001,3,LEFT,CC,2,mass,OVAL,OBSCURED,4,BENIGN,4,${csvPath('Mass-Training_P_00001_LEFT_CC')},x,${csvPath('Mass-Training_P_00001_LEFT_CC_2')}`);
    await expect(readCbisDdsmDataset({ imageDir, csvFiles: [csv] })).rejects.toThrow(`${csv} line 2: no DICOM file for the ROI mask under ${path.join(imageDir, 'Mass-Training_P_00001_LEFT_CC_2')}`);
  });

  it('names a missing description file', async () => {
    await expect(readCbisDdsmDataset({ imageDir, csvFiles: [path.join(dir, 'nope.csv')] })).rejects.toThrow(`${path.join(dir, 'nope.csv')}: cannot read the CBIS-DDSM description file (ENOENT)`);
  });

  it('reports one class without refusing it', async () => {
    const csv = oneRow(MASS_HEADER, `P_00002,2,RIGHT,MLO,1,mass,OVAL,CIRCUMSCRIBED,3,BENIGN,2,${csvPath('Mass-Test_P_00002_RIGHT_MLO')},x,${csvPath('Mass-Test_P_00002_RIGHT_MLO_1')}`);
    const dataset = await readCbisDdsmDataset({ imageDir, csvFiles: [csv] });
    expect(dataset.classCounts).toMatchObject({ images: 1, malignant: 0, notMalignant: 1 });
  });

  it('refuses a mask folder without a binary image, and an empty mask, naming the file', async () => {
    writeDicom(path.join(imageDir, 'Mass-Training_P_00001_LEFT_CC_3/a/b/1-1.dcm'), cropped(), 10, 8);
    writeDicom(path.join(imageDir, 'Mass-Training_P_00001_LEFT_CC_4/a/b/1-1.dcm'), new Uint8Array(WIDTH * HEIGHT), WIDTH, HEIGHT);
    const csv = oneRow(
      MASS_HEADER,
      [3, 4].map((n) => `P_00001,3,LEFT,CC,${n},mass,OVAL,OBSCURED,4,BENIGN,4,${csvPath('Mass-Training_P_00001_LEFT_CC')},x,${csvPath(`Mass-Training_P_00001_LEFT_CC_${n}`)}`).join('\n'),
    );
    const [noMask, empty] = (await readCbisDdsmDataset({ imageDir, csvFiles: [csv] })).images[0]!.lesions;
    await expect(noMask!.region()).rejects.toThrow(`${csv} line 2: no binary ROI mask among 1-1.dcm`);
    await expect(empty!.region()).rejects.toThrow(new RegExp(`Mass-Training_P_00001_LEFT_CC_4/a/b/1-1\\.dcm: .*line 3: the ROI mask is empty`));
  });
});

describe('parseCbisDescription', () => {
  it('reads both density spellings and the descriptors of each kind', () => {
    expect(parseCbisDescription(`${CALC_HEADER}\nP_00005,3,RIGHT,MLO,1,calcification,AMORPHOUS,,3,BENIGN,3,a/b.dcm,c/d.dcm,e/f.dcm\n`, 'calc.csv')).toEqual([
      {
        where: 'calc.csv line 2',
        patientId: 'P_00005',
        laterality: 'R',
        view: 'MLO',
        abnormalityId: '1',
        type: 'calcification',
        pathology: 'BENIGN',
        attributes: { density: '3', assessment: '3', subtlety: '3', 'calc type': 'AMORPHOUS' },
        imagePath: 'a/b.dcm',
        roiMaskPath: 'e/f.dcm',
      },
    ]);
  });

  it.each([
    [MASS_HEADER.replace(',pathology', ''), GOOD_ROW.replace(',MALIGNANT', ''), /m\.csv line 1: missing column 'pathology'/],
    [MASS_HEADER.replace('breast_density', 'density'), GOOD_ROW, /m\.csv line 1: missing column 'breast_density' \(or 'breast density'\)/],
    [MASS_HEADER, GOOD_ROW.replace('LEFT', 'MIDDLE'), /m\.csv line 2: left or right breast must be LEFT or RIGHT; got 'MIDDLE'/],
    [MASS_HEADER, GOOD_ROW.replace(',CC,', ',XCCL,'), /m\.csv line 2: image view must be CC or MLO; got 'XCCL'/],
    [MASS_HEADER, GOOD_ROW.replace('MALIGNANT', 'UNPROVEN'), /m\.csv line 2: pathology must be one of MALIGNANT, BENIGN, BENIGN_WITHOUT_CALLBACK; got 'UNPROVEN'/],
    [MASS_HEADER, GOOD_ROW.replace(',mass,', ',asymmetry,'), /m\.csv line 2: abnormality type must be mass or calcification/],
    [MASS_HEADER, GOOD_ROW.replace('P_00001', '00001'), /m\.csv line 2: patient_id must look like P_00001/],
    [MASS_HEADER, `${GOOD_ROW},extra`, /m\.csv line 2: 15 fields for 14 columns/],
    [MASS_HEADER, GOOD_ROW.replace(/,[^,]*$/, ','), /m\.csv line 2: the ROI mask file path is empty/],
  ])('refuses bad input naming the file and line (%#)', (header, row, message) => {
    expect(() => parseCbisDescription(`${header}\n${row}\n`, 'm.csv')).toThrow(DatasetError);
    expect(() => parseCbisDescription(`${header}\n${row}\n`, 'm.csv')).toThrow(message);
  });

  it('refuses one abnormality described twice', async () => {
    const csv = oneRow(MASS_HEADER, `${GOOD_ROW}\n${GOOD_ROW}`);
    await expect(readCbisDdsmDataset({ imageDir, csvFiles: [csv] })).rejects.toThrow(`${csv} line 3: mass 1 of P_00001_LEFT_CC is also described at ${csv} line 2`);
  });

  it('takes the case folder from a path, whatever its separators, and the split from the folder', () => {
    expect(cbisCaseFolder(' Calc-Test_P_00038_LEFT_CC_1\\1.3.6\\1.3.7\\000001.dcm\n')).toBe('Calc-Test_P_00038_LEFT_CC_1');
    expect([cbisSplitOf('Calc-Test_P_00038_LEFT_CC'), cbisSplitOf('Mass-Training_P_00001_LEFT_CC_1'), cbisSplitOf('P_1')]).toEqual(['test', 'train', null]);
  });
});

describe('parseCsv', () => {
  it('reads quoted fields with delimiters, doubled quotes and newlines, and CRLF; trims; pads short rows', () => {
    const table = parseCsv('a,b,c\r\n"x, y","say ""hi""","two\nlines"\r\n\r\n1,2\r\n', 't.csv', { required: ['a', 'c'] });
    expect(table.header).toEqual(['a', 'b', 'c']);
    expect(table.rows).toEqual([
      { line: 2, values: { a: 'x, y', b: 'say "hi"', c: 'two\nlines' } },
      { line: 5, values: { a: '1', b: '2', c: '' } },
    ]);
  });

  it('refuses an unclosed quote and an empty file, naming them', () => {
    expect(() => parseCsv('a\n"open\n', 't.csv')).toThrow('t.csv line 2: a quoted field is not closed');
    expect(() => parseCsv('', 't.csv')).toThrow('t.csv: the file is empty: no header row');
  });
});

describe('regions', () => {
  it('of a mask: set pixels above the middle of its range, box, box centre, farthest set pixel', () => {
    // 5 x 4, values 0/1 as some exports write them: an L shape.
    const pixels = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0];
    expect(regionFromMask(pixels, 5, 4)).toEqual({ box: { top: 1, left: 1, bottom: 2, right: 3 }, centre: { row: 1.5, column: 2 }, radiusPx: Math.hypot(0.5, 1), outline: null, from: 'mask' });
    expect(regionFromMask(new Uint8Array(6), 3, 2)).toBeNull();
  });

  it('of an outline and of a circle (clipped to the image)', () => {
    const outline = [{ row: 2, column: 1 }, { row: 6, column: 1 }, { row: 4, column: 9 }];
    expect(regionFromOutline(outline)).toEqual({ box: { top: 2, left: 1, bottom: 6, right: 9 }, centre: { row: 4, column: 5 }, radiusPx: Math.hypot(2, 4), outline, from: 'outline' });
    expect(regionFromCircle({ row: 3, column: 1020 }, 10, 1024, 1024)).toEqual({ box: { top: 0, left: 1010, bottom: 13, right: 1023 }, centre: { row: 3, column: 1020 }, radiusPx: 10, outline: null, from: 'circle' });
  });

  it('class counts', () => {
    const image = (womanId: string, malignant: boolean, imageClass: TrainingImage['imageClass']) => ({ womanId, malignant, imageClass }) as TrainingImage;
    expect(countClasses([image('a', true, 'malignant'), image('a', false, 'normal'), image('b', false, null)])).toEqual({
      images: 3,
      malignant: 1,
      notMalignant: 2,
      women: 2,
      byClass: { normal: 1, benign: 0, malignant: 1, unknown: 1 },
    });
  });
});

describe('mini-MIAS in the shared form', () => {
  it('maps the MIAS records: circles as regions, classes as lesion types, 8-bit pixels at 0.2 mm', async () => {
    const miasDir = mkdtempSync(path.join(tmpdir(), 'mammocad-mias-shared-'));
    try {
      writeFileSync(path.join(miasDir, 'labels.txt'), 'mdb001 G CIRC B 535 425 197\nmdb002 F CALC M *NOTE 3*\nmdb002 F ASYM M 10 1020 8\n');
      const raster = Buffer.alloc(1024 * 1024, 7);
      for (const id of ['mdb001', 'mdb002']) writeFileSync(path.join(miasDir, `${id}.pgm`), Buffer.concat([Buffer.from('P5\n1024 1024\n255\n'), raster]));
      const dataset = miasTrainingDataset(await readMiasDataset(miasDir));
      expect(dataset.images.map((i) => [i.id, i.womanId, i.laterality, i.view, i.label, i.imageClass, i.attributes])).toEqual([
        ['mdb001', 'w001', 'R', 'MLO', 0, 'benign', { tissue: 'G' }],
        ['mdb002', 'w001', 'L', 'MLO', 1, 'malignant', { tissue: 'F' }],
      ]);
      const [calc, asym] = dataset.images[1]!.lesions;
      expect([calc!.type, calc!.pathology, await calc!.region()]).toEqual(['calcification', 'malignant', null]);
      expect([asym!.type, await asym!.region()]).toEqual(['other', { box: { top: 0, left: 2, bottom: 11, right: 18 }, centre: { row: 3, column: 10 }, radiusPx: 8, outline: null, from: 'circle' }]);
      expect(await dataset.images[0]!.lesions[0]!.region()).toMatchObject({ centre: { row: 598, column: 535 }, radiusPx: 197 });
      const pixels = await dataset.images[0]!.loadPixels();
      expect([pixels.width, pixels.height, pixels.pixelSpacingMm, pixels.pixels[12345]]).toEqual([1024, 1024, [0.2, 0.2], 7]);
      expect(dataset.classCounts).toMatchObject({ images: 2, malignant: 1, women: 1 });
    } finally {
      rmSync(miasDir, { recursive: true, force: true });
    }
  });
});
