// The image-folder reader (manifest.csv + PNG/JPEG images), on folders written here. One real
// JPEG is copied from the shared RSNA folder into a temporary folder when it is there (research
// data: never into the repository).

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/domain/errors.js';
import { decodeCompressedFrame } from '../../src/dicom/pixels/codecs.js';
import { JPEG_BASELINE_8BIT } from '../../src/dicom/pixels/transfer-syntaxes.js';
import { parseImageFolderManifest, readImageFileGrey, readImageFolderDataset } from '../../src/training/datasets/image-folder.js';
import { parseTrainingConfig } from '../../src/training/trainer/config.js';
import { readConfiguredDataset } from '../../src/training/trainer/training-data.js';
import { encodePng, syntheticBreast } from '../support/grey-images.js';
import { SHARED_DATA_DIR, needsSharedData } from '../support/shared-data.js';

const HEADER = 'file,patient_id,laterality,view,malignant,age,site_id,machine_id,density';

describe('parseImageFolderManifest', () => {
  it('reads good rows: id from the file stem, woman, breast, view, label, the other columns as attributes (blanks left out)', () => {
    const { rows, skipped, attributeColumns } = parseImageFolderManifest(`${HEADER}\nimages/10_1.jpg,10,L,cc,1,61,2,49,\nimages/10_2.PNG,10,r,MLO,0,61,2,49,B\n`, 'm.csv');
    expect(skipped).toEqual([]);
    expect(attributeColumns).toEqual(['age', 'site_id', 'machine_id', 'density']);
    expect(rows).toEqual([
      { line: 2, file: path.normalize('images/10_1.jpg'), id: '10_1', womanId: '10', laterality: 'L', view: 'CC', label: 1, attributes: { age: '61', site_id: '2', machine_id: '49' } },
      { line: 3, file: path.normalize('images/10_2.PNG'), id: '10_2', womanId: '10', laterality: 'R', view: 'MLO', label: 0, attributes: { age: '61', site_id: '2', machine_id: '49', density: 'B' } },
    ]);
  });

  it("accepts 'woman' and 'label' as the column names, keeping patient_id and malignant then as attributes", () => {
    const { rows } = parseImageFolderManifest('label,woman,laterality,view,file,patient_id,malignant\n1,w7,R,CC,a.png,P7,0\n', 'm.csv');
    expect(rows[0]).toMatchObject({ id: 'a', womanId: 'w7', label: 1, attributes: { patient_id: 'P7', malignant: '0' } });
  });

  it.each([
    [',10,L,CC,1,,,,', /no file/],
    ['a.jpg,10,X,CC,1,,,,', /laterality must be L or R; got 'X' for a\.jpg/],
    ['a.jpg,10,L,CC,2,,,,', /malignant must be 0 or 1; got '2' for a\.jpg/],
    ['a.jpg,10,L,CC,,,,,', /malignant must be 0 or 1; got ''/],
    ['a.jpg,,L,CC,1,,,,', /no patient_id for a\.jpg/],
    ['a.jpg,10,L,,1,,,,', /no view for a\.jpg/],
    ['../b.jpg,10,L,CC,1,,,,', /'\.\.\/b\.jpg' is not inside the folder/],
    ['/etc/b.jpg,10,L,CC,1,,,,', /is not inside the folder/],
    ['a.dcm,10,L,CC,1,,,,', /is not a PNG or JPEG file/],
  ])('skips the bad row %s with its line and the reason', (row, reason) => {
    const { rows, skipped } = parseImageFolderManifest(`${HEADER}\nok.png,1,L,CC,0,,,,\n${row}\n`, 'm.csv');
    expect(rows.map((r) => r.id)).toEqual(['ok']);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.item).toBe('m.csv line 3');
    expect(skipped[0]!.reason).toMatch(reason);
  });

  it('skips a second file with the same stem: ids must stay stable and unique', () => {
    const { rows, skipped } = parseImageFolderManifest(`${HEADER}\na/x.png,1,L,CC,0,,,,\nb/x.jpg,2,R,CC,1,,,,\n`, 'm.csv');
    expect(rows.map((r) => r.file)).toEqual([path.normalize('a/x.png')]);
    expect(skipped).toEqual([{ item: 'm.csv line 3', reason: "image id 'x' (the file's name without its extension) is already taken by line 2" }]);
  });

  it('refuses a manifest without the required columns, naming every one missing', () => {
    const parse = () => parseImageFolderManifest('file,patient_id,view,age\na.png,1,CC,50\n', 'm.csv');
    expect(parse).toThrow(DatasetError);
    expect(parse).toThrow("m.csv line 1: missing columns 'laterality', 'label' or 'malignant' (the header has 'file', 'patient_id', 'view', 'age')");
    expect(() => parseImageFolderManifest('', 'm.csv')).toThrow(/empty/);
  });
});

const folders: string[] = [];
function folder(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-image-folder-'));
  mkdirSync(path.join(dir, 'images'));
  folders.push(dir);
  return dir;
}
// The copy of a research image does not outlive the test.
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe('readImageFolderDataset', () => {
  it('lists the images, skips rows whose file is missing, and names the data set after the folder', async () => {
    const dir = folder();
    const dark = syntheticBreast({ centreRow: 80, centreColumn: 0, radiusRows: 70, radiusColumns: 80 });
    const bright16 = syntheticBreast({ centreRow: 80, centreColumn: 119, radiusRows: 70, radiusColumns: 80, max: 4095, background: 30, tissue: [1000, 3800], inverted: true });
    writeFileSync(path.join(dir, 'images', 'w1_cc.png'), encodePng(dark.width, dark.height, 8, 0, dark.pixels, [0, 1, 2, 3, 4]));
    writeFileSync(path.join(dir, 'images', 'w2_mlo.png'), encodePng(bright16.width, bright16.height, 16, 0, bright16.pixels, [4]));
    writeFileSync(
      path.join(dir, 'manifest.csv'),
      [HEADER, 'images/w2_mlo.png,w2,R,MLO,1,72,1,29,C', 'images/w1_cc.png,w1,L,CC,0,,1,49,', 'images/gone.png,w3,L,CC,0,50,1,49,', 'images/w4.png,w4,L,CC,7,50,1,49,'].join('\n'),
    );
    const dataset = await readImageFolderDataset(dir);
    expect(dataset.name).toBe(path.basename(dir));
    expect(dataset.images.map((i) => i.id)).toEqual(['w1_cc', 'w2_mlo']);
    expect(dataset.skipped).toEqual([
      { item: `${path.join(dir, 'manifest.csv')} line 5`, reason: "malignant must be 0 or 1; got '7' for images/w4.png" },
      { item: `${path.join(dir, 'manifest.csv')} line 4`, reason: `image file ${path.join(dir, 'images', 'gone.png')} does not exist` },
    ]);
    expect(dataset.classCounts).toMatchObject({ images: 2, malignant: 1, notMalignant: 1, women: 2 });
    const [w1, w2] = dataset.images as [(typeof dataset.images)[number], (typeof dataset.images)[number]];
    expect(w2).toMatchObject({ womanId: 'w2', laterality: 'R', view: 'MLO', malignant: true, label: 1, imageClass: 'malignant', lesions: [], source: path.join(dir, 'images', 'w2_mlo.png') });
    expect(w1).toMatchObject({ malignant: false, label: 0, imageClass: null });
    // Whether an image was inverted is known once it has been read.
    expect(w2.attributes).toEqual({ age: '72', site_id: '1', machine_id: '29', density: 'C' });

    const plain = await w1.loadPixels();
    expect(plain).toMatchObject({ width: 120, height: 160, pixelSpacingMm: null });
    expect([...plain.pixels]).toEqual([...dark.pixels]);
    expect(w1.attributes.inverted).toBe('false');

    const corrected = await w2.loadPixels();
    expect(corrected.pixels).toBeInstanceOf(Uint16Array);
    expect(w2.attributes.inverted).toBe('true');
    // Inverted back within the image's range: the background is dark again, the breast bright.
    const min = Math.min(...bright16.pixels);
    const max = Math.max(...bright16.pixels);
    expect([...corrected.pixels]).toEqual([...bright16.pixels].map((v) => max + min - v));
    expect(corrected.pixels[80 * 120 + 5]!).toBeLessThan(min + 5);
    expect(corrected.pixels[80 * 120 + 115]!).toBeGreaterThan(1000);
  });

  it('takes a name, and refuses a folder without a manifest', async () => {
    const dir = folder();
    await expect(readImageFolderDataset(dir)).rejects.toThrow(`${path.join(dir, 'manifest.csv')}: cannot read the image folder's manifest (ENOENT)`);
    writeFileSync(path.join(dir, 'manifest.csv'), `${HEADER}\n`);
    expect((await readImageFolderDataset(dir, { name: 'rsna-screening' })).name).toBe('rsna-screening');
  });

  it('is the training configuration\'s dataset kind image-folder (dir required, name optional)', async () => {
    const dir = folder();
    const dark = syntheticBreast({ centreRow: 80, centreColumn: 0, radiusRows: 70, radiusColumns: 80 });
    writeFileSync(path.join(dir, 'a.png'), encodePng(dark.width, dark.height, 8, 0, dark.pixels));
    writeFileSync(path.join(dir, 'manifest.csv'), 'file,woman,laterality,view,label\na.png,w,L,CC,0\n');
    const dataset = await readConfiguredDataset(parseTrainingConfig({ dataset: { kind: 'image-folder', dir, name: 'site-a' } }));
    expect(dataset).toMatchObject({ name: 'site-a', classCounts: { images: 1 } });
    expect(() => parseTrainingConfig({ dataset: { kind: 'image-folder' } })).toThrow(/dataset\.dir.*required for dataset image-folder/);
    expect(() => parseTrainingConfig({ dataset: { kind: 'mias', dir, name: 'x' } })).toThrow(/dataset\.name/);
  });

  it('decodes a file by its bytes, not its extension, and names one that is neither PNG nor JPEG', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'really-png.jpg'), encodePng(2, 1, 8, 0, [3, 4]));
    expect([...(await readImageFileGrey(path.join(dir, 'really-png.jpg'))).pixels]).toEqual([3, 4]);
    writeFileSync(path.join(dir, 'text.png'), 'not an image');
    await expect(readImageFileGrey(path.join(dir, 'text.png'))).rejects.toThrow(/neither a PNG nor a JPEG file/);
    writeFileSync(path.join(dir, 'cut.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    await expect(readImageFileGrey(path.join(dir, 'cut.jpg'))).rejects.toThrow(DatasetError);
  });

  // One real RSNA JPEG of a machine that stores MONOCHROME1 (machine 29: bright background).
  const RSNA_JPEG = path.join(SHARED_DATA_DIR, 'rsna-screening', 'images', '105_1232990271.jpg');
  it('reads a real 8-bit 3-channel JPEG as one grey channel and inverts its bright background (needs ../shared/data/rsna-screening)', needsSharedData('rsna-screening'), async () => {
    const dir = folder();
    copyFileSync(RSNA_JPEG, path.join(dir, 'images', 'r.jpg'));
    writeFileSync(path.join(dir, 'manifest.csv'), 'file,patient_id,laterality,view,malignant,machine_id\nimages/r.jpg,105,L,MLO,0,29\n');
    const [image] = (await readImageFolderDataset(dir)).images;
    const stored = await readImageFileGrey(path.join(dir, 'images', 'r.jpg'));
    const frame = await decodeCompressedFrame(JPEG_BASELINE_8BIT, new Uint8Array(readFileSync(path.join(dir, 'images', 'r.jpg'))), {
      rows: 0,
      columns: 0,
      samplesPerPixel: 3,
      bitsAllocated: 8,
      bitsStored: 8,
      signed: false,
      photometricInterpretation: 'RGB',
    });
    expect(frame.components).toBe(3);
    expect(stored).toMatchObject({ width: 640, height: 640, pixelSpacingMm: null });
    expect(stored.pixels).toBeInstanceOf(Uint8Array);
    // The three channels are equal: the grey image is the first of them.
    for (let p = 0; p < 640 * 640; p += 997) expect([frame.samples[3 * p + 1], frame.samples[3 * p + 2]]).toEqual([stored.pixels[p], stored.pixels[p]]);
    // Stored bright: its top-right corner (away from the chest wall) is near white.
    expect(stored.pixels[5 * 640 + 634]!).toBeGreaterThan(240);
    const pixels = await image!.loadPixels();
    expect(image!.attributes.inverted).toBe('true');
    expect(pixels.pixels[5 * 640 + 634]!).toBeLessThan(15);
  });
});
