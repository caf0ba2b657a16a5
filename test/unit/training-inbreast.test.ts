// INbreast in the shared training form, from files written in the release's formats: the
// semicolon-separated INbreast.csv ('removed' patient columns, a blank ACR padded with spaces,
// BI-RADS 4a/4b/4c), AllDICOMs/<File Name>_<patient>_MG_<side>_<view>_ANON.dcm written with
// dcmjs, and AllXML/<File Name>.xml property lists as OsiriX exports them.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/domain/errors.js';
import { inbreastImageClass, inbreastLesionType, inbreastMalignant, parseInbreastCsv, parseInbreastXml, readInbreastDataset } from '../../src/training/datasets/inbreast.js';
import { parsePlist } from '../../src/training/datasets/plist.js';

const HEADER = 'Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads';
const WIDTH = 64;
const HEIGHT = 48;
const MG = '1.2.840.10008.5.1.4.1.1.1.2';
let uid = 0;

/** A 16-bit FFDM image as INbreast stores it (MG For Presentation, 0.07 mm pixels). */
function writeMammogram(file: string, pixels: Uint16Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const sop = `1.2.826.0.1.3680043.10.1137.78.${process.pid}.${++uid}`;
  const dataset = {
    SOPClassUID: MG,
    SOPInstanceUID: sop,
    StudyInstanceUID: `${sop}.1`,
    SeriesInstanceUID: `${sop}.2`,
    Modality: 'MG',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: HEIGHT,
    Columns: WIDTH,
    BitsAllocated: 16,
    BitsStored: 14,
    HighBit: 13,
    PixelRepresentation: 0,
    PixelSpacing: [0.07, 0.07],
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OW' },
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: MG,
    MediaStorageSOPInstanceUID: sop,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '1.2.826.0.1.3680043.10.1137.1',
  };
  const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset);
  writeFileSync(file, Buffer.from(dict.write()));
}

/** Breast against the right edge (a right breast as stored), one marked pixel. */
function rightBreast(): Uint16Array {
  const pixels = new Uint16Array(WIDTH * HEIGHT);
  for (let r = 0; r < HEIGHT; r++) for (let c = 0; c < WIDTH; c++) pixels[r * WIDTH + c] = c >= 40 ? 8000 + r + c : 20;
  pixels[2 * WIDTH + 50] = 16000;
  return pixels;
}

/** An OsiriX ROI export: one image, the given ROIs (name and "(x, y)" points). */
function plist(rois: { name: string; points: string[] }[]): string {
  const roi = ({ name, points }: { name: string; points: string[] }, i: number) => `
				<dict>
					<key>Area</key>
					<real>0.0</real>
					<key>Center</key>
					<string>(1522.080000, 1839.520000, 0.000000)</string>
					<key>IndexInImage</key>
					<integer>${i}</integer>
					<key>Name</key>
					<string>${name}</string>
					<key>NumberOfPoints</key>
					<integer>${points.length}</integer>
					<key>Point_mm</key>
					<array>
${points.map(() => '						<string>(1.000000, 2.000000, 0.000000)</string>').join('\n')}
					</array>
					<key>Point_px</key>
					<array>
${points.map((p) => `						<string>${p}</string>`).join('\n')}
					</array>
					<key>Type</key>
					<integer>15</integer>
				</dict>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Images</key>
	<array>
		<dict>
			<key>ImageHeight</key>
			<integer>${HEIGHT}</integer>
			<key>ImageIndex</key>
			<integer>0</integer>
			<key>ImageWidth</key>
			<integer>${WIDTH}</integer>
			<key>NumberOfROIs</key>
			<integer>${rois.length}</integer>
			<key>ROIs</key>
			<array>${rois.map(roi).join('')}
			</array>
		</dict>
	</array>
</dict>
</plist>
`;
}

const ROWS = [
  ['removed', 'removed', 'R', 'CC', '201001', '22678622', '4', '1'],
  ['removed', 'removed', 'L', 'MLO', '201001', '22678646', '     ', '4a'],
  ['removed', 'removed', 'L', 'CC', '201001', '22678694', '2', '3'],
  ['removed', 'removed', 'R', 'MLO', '201002', '24055274', '1', '6'],
];
const FILES = ['22678622_f4b2d377f43ba0bd_MG_R_CC_ANON.dcm', '22678646_f4b2d377f43ba0bd_MG_L_ML_ANON.dcm', '22678694_f4b2d377f43ba0bd_MG_L_CC_ANON.dcm', '24055274_a80bd7cf6e5b5bfa_MG_R_ML_ANON.dcm'];

let dir: string;

/** A release folder: the CSV (rows as given), the DICOMs and XMLs of the standard fixture. */
function release(rows: string[][] = ROWS, header = HEADER): string {
  const root = path.join(dir, `release-${++uid}`);
  mkdirSync(path.join(root, 'AllXML'), { recursive: true });
  for (const name of FILES) writeMammogram(path.join(root, 'AllDICOMs', name), rightBreast());
  writeFileSync(path.join(root, 'AllDICOMs', 'Thumbs.db'), 'junk');
  writeFileSync(path.join(root, 'AllXML', '22678646.xml'), plist([
    { name: 'Mass', points: ['(10.500000, 20.000000)', '(30.000000, 22.000000)', '(20.000000, 40.250000)'] },
    { name: 'Calcification', points: ['(45.000000, 5.000000)'] },
  ]));
  writeFileSync(path.join(root, 'AllXML', '22678694.xml'), plist([{ name: 'Cluster', points: ['(1.0, 1.0)', '(3.0, 1.0)', '(3.0, 5.0)'] }]));
  writeFileSync(path.join(root, 'AllXML', '24055274.xml'), plist([{ name: 'Assymetry', points: [] }]));
  writeFileSync(path.join(root, 'INbreast.csv'), [header, ...rows.map((r) => r.join(';'))].join('\r\n') + '\r\n');
  return root;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mammocad-inbreast-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('readInbreastDataset', () => {
  it('reads the table, finds each DICOM by its number, takes the woman from the file name, labels BI-RADS 4-6 malignant', async () => {
    const dataset = await readInbreastDataset(release());
    expect(dataset.name).toBe('INbreast');
    expect(dataset.skipped).toEqual([]);
    expect(dataset.images.map((i) => [i.id, i.womanId, i.laterality, i.view, i.label, i.imageClass, i.attributes])).toEqual([
      ['22678622', 'f4b2d377f43ba0bd', 'R', 'CC', 0, 'normal', { birads: '1', density: '4', acquired: '201001' }],
      ['22678646', 'f4b2d377f43ba0bd', 'L', 'MLO', 1, 'malignant', { birads: '4a', acquired: '201001' }],
      ['22678694', 'f4b2d377f43ba0bd', 'L', 'CC', 0, 'benign', { birads: '3', density: '2', acquired: '201001' }],
      ['24055274', 'a80bd7cf6e5b5bfa', 'R', 'MLO', 1, 'malignant', { birads: '6', density: '1', acquired: '201002' }],
    ]);
    expect(dataset.classCounts).toEqual({ images: 4, malignant: 2, notMalignant: 2, women: 2, byClass: { normal: 1, benign: 1, malignant: 2, unknown: 0 } });
  });

  it('turns the XML outlines into lesions: x is the column, y the row; a dot is a region of radius 0; no points, no region', async () => {
    const dataset = await readInbreastDataset(release());
    const [normal, withMass, withCluster, withAsymmetry] = dataset.images;
    expect(normal!.lesions).toEqual([]);
    const [mass, calcification] = withMass!.lesions;
    expect([mass!.type, mass!.pathology, mass!.attributes]).toEqual(['mass', null, { name: 'Mass' }]);
    const outline = [{ row: 20, column: 10.5 }, { row: 22, column: 30 }, { row: 40.25, column: 20 }];
    expect(await mass!.region()).toEqual({ box: { top: 20, left: 10.5, bottom: 40.25, right: 30 }, centre: { row: 30.125, column: 20.25 }, radiusPx: Math.hypot(10.125, 9.75), outline, from: 'outline' });
    expect([calcification!.type, await calcification!.region()]).toEqual(['calcification', { box: { top: 5, left: 45, bottom: 5, right: 45 }, centre: { row: 5, column: 45 }, radiusPx: 0, outline: [{ row: 5, column: 45 }], from: 'outline' }]);
    expect(withCluster!.lesions[0]!.type).toBe('calcification');
    expect(await withCluster!.lesions[0]!.region()).toMatchObject({ box: { top: 1, left: 1, bottom: 5, right: 3 }, centre: { row: 3, column: 2 } });
    expect([withAsymmetry!.lesions[0]!.type, withAsymmetry!.lesions[0]!.attributes, await withAsymmetry!.lesions[0]!.region()]).toEqual(['other', { name: 'Assymetry' }, null]);
  });

  it('loads the pixels as stored, with the pixel spacing', async () => {
    const dataset = await readInbreastDataset(release());
    const pixels = await dataset.images[0]!.loadPixels();
    expect([pixels.width, pixels.height, pixels.pixelSpacingMm]).toEqual([WIDTH, HEIGHT, [0.07, 0.07]]);
    expect(Array.from(pixels.pixels)).toEqual(Array.from(rightBreast()));
  });

  it('takes the Patient ID column when every row has one', async () => {
    const rows = ROWS.map((r, i) => [i < 3 ? 'PA' : 'PB', '51', ...r.slice(2)]);
    const dataset = await readInbreastDataset(release(rows));
    expect(dataset.images.map((i) => [i.id, i.womanId, i.attributes.age])).toEqual([
      ['22678622', 'PA', '51'],
      ['22678646', 'PA', '51'],
      ['22678694', 'PA', '51'],
      ['24055274', 'PB', '51'],
    ]);
    // One row without it: the file names decide for all (a woman must not get two ids).
    rows[3]![0] = 'removed';
    expect((await readInbreastDataset(release(rows))).images.map((i) => i.womanId)).toEqual(['f4b2d377f43ba0bd', 'f4b2d377f43ba0bd', 'f4b2d377f43ba0bd', 'a80bd7cf6e5b5bfa']);
  });

  it('refuses a row without its DICOM file, naming the CSV line; or skips it when asked', async () => {
    const rows = [...ROWS, ['removed', 'removed', 'L', 'CC', '201001', '99999999', '1', '2']];
    const root = release(rows);
    const csv = path.join(root, 'INbreast.csv');
    await expect(readInbreastDataset(root)).rejects.toThrow(DatasetError);
    await expect(readInbreastDataset(root)).rejects.toThrow(`${csv} line 6: no DICOM file 99999999_*_MG_*_ANON.dcm in ${path.join(root, 'AllDICOMs')}`);
    const dataset = await readInbreastDataset(root, { missingFiles: 'skip' });
    expect(dataset.images).toHaveLength(4);
    expect(dataset.skipped).toEqual([{ item: '99999999', reason: `${csv} line 6: no DICOM file 99999999_*_MG_*_ANON.dcm in ${path.join(root, 'AllDICOMs')}` }]);
  });

  it('refuses a laterality that contradicts the file name', async () => {
    const rows = ROWS.map((r) => [...r]);
    rows[0]![2] = 'L';
    const root = release(rows);
    await expect(readInbreastDataset(root)).rejects.toThrow(`${path.join(root, 'INbreast.csv')} line 2: Laterality L, but the DICOM file name says R: 22678622_f4b2d377f43ba0bd_MG_R_CC_ANON.dcm`);
  });

  it('refuses malformed XML naming the file and the line or element', async () => {
    const root = release();
    const xml = path.join(root, 'AllXML', '22678694.xml');
    writeFileSync(xml, plist([{ name: 'Mass', points: ['(1.0, 1.0)'] }]).replace('</dict>\n\t</array>', '\t</array>'));
    await expect(readInbreastDataset(root)).rejects.toThrow(new RegExp(`^${xml.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 41 \\(Images\\[0\\]\\): expected <key> in a <dict>, found </array>`));
    writeFileSync(xml, plist([{ name: 'Mass', points: ['(1.0, 1.0)'] }, { name: 'Mass', points: ['(1.0; 1.0)'] }]));
    await expect(readInbreastDataset(root)).rejects.toThrow(`${xml} (Images[0].ROIs[1].Point_px[0]): expected "(x, y)"; got '(1.0; 1.0)'`);
    writeFileSync(xml, plist([{ name: 'Mass', points: ['(1.0, 1.0)'] }]).replace(/<key>Name<\/key>\s*<string>Mass<\/string>/, ''));
    await expect(readInbreastDataset(root)).rejects.toThrow(`${xml} (Images[0].ROIs[0].Name): missing or not a <string>`);
    // Cut short: inside a tag, inside text, between elements.
    writeFileSync(xml, plist([]).slice(0, plist([]).indexOf('<key>ImageWidth') + 3));
    await expect(readInbreastDataset(root)).rejects.toThrow(`${xml} line 12: a tag is not closed`);
    writeFileSync(xml, plist([]).slice(0, plist([]).indexOf('<key>ImageWidth') + 7));
    await expect(readInbreastDataset(root)).rejects.toThrow(`${xml} line 12: the document ends in text 'Im' (cut short?)`);
    writeFileSync(xml, plist([]).slice(0, plist([]).indexOf('<key>ImageWidth')));
    await expect(readInbreastDataset(root)).rejects.toThrow(`${xml} line 12 (Images[0]): the document ends inside a <dict>`);
  });

  it('names a missing table', async () => {
    await expect(readInbreastDataset(path.join(dir, 'nowhere'))).rejects.toThrow(`${path.join(dir, 'nowhere', 'INbreast.csv')}: cannot read the INbreast table (ENOENT)`);
  });

  it('reports one class without refusing it', async () => {
    const dataset = await readInbreastDataset(release(ROWS.filter((r) => ['1', '3'].includes(r[7]!))));
    expect(dataset.classCounts).toMatchObject({ images: 2, malignant: 0, notMalignant: 2 });
  });
});

describe('parseInbreastCsv', () => {
  const row = 'removed;removed;R;CC;201001;22678622;4;1';
  it.each([
    [HEADER.replace(';Bi-Rads', ''), row.slice(0, -2), /t\.csv line 1: missing column 'Bi-Rads'/],
    [HEADER, row.replace(';R;', ';X;'), /t\.csv line 2: Laterality must be L or R; got 'X'/],
    [HEADER, row.replace(';CC;', ';AP;'), /t\.csv line 2: View must be one of CC, MLO/],
    [HEADER, row.replace(/;1$/, ';7'), /t\.csv line 2: Bi-Rads must be one of 1, 2, 3, 4, 4a, 4b, 4c, 5, 6; got '7'/],
    [HEADER, row.replace('22678622', 'abc'), /t\.csv line 2: File Name must be the image number; got 'abc'/],
    [HEADER, `${row}\n${row}`, /t\.csv line 3: File Name 22678622 is also on line 2/],
  ])('refuses bad input naming the file and line (%#)', (header, rows, message) => {
    expect(() => parseInbreastCsv(`${header}\n${rows}\n`, 't.csv')).toThrow(DatasetError);
    expect(() => parseInbreastCsv(`${header}\n${rows}\n`, 't.csv')).toThrow(message);
  });

  it('reads a comma-separated export too', () => {
    expect(parseInbreastCsv(`${HEADER.replace(/;/g, ',')}\n${row.replace(/;/g, ',').replace(/,1$/, ',4C')}\n`, 't.csv')).toEqual([
      { where: 't.csv line 2', fileName: '22678622', patientId: null, laterality: 'R', view: 'CC', birads: '4c', attributes: { birads: '4c', density: '4', acquired: '201001' } },
    ]);
  });

  it('maps BI-RADS to labels and classes, ROI names to lesion types', () => {
    expect((['1', '2', '3', '4', '4a', '4b', '4c', '5', '6'] as const).map((b) => [inbreastMalignant(b), inbreastImageClass(b)])).toEqual([
      [false, 'normal'],
      [false, 'benign'],
      [false, 'benign'],
      [true, 'malignant'],
      [true, 'malignant'],
      [true, 'malignant'],
      [true, 'malignant'],
      [true, 'malignant'],
      [true, 'malignant'],
    ]);
    expect(['Mass', 'Calcifications', 'Cluster', 'Spiculated Region', 'Distortion', 'Point 1'].map(inbreastLesionType)).toEqual(['mass', 'calcification', 'calcification', 'other', 'other', 'other']);
  });
});

describe('parsePlist', () => {
  it('reads every value type, entities, comments and CDATA', () => {
    const xml = `<?xml version="1.0"?><!-- c --><plist version="1.0"><dict>
      <key>s</key><string>a &lt;b&gt; &amp; &#65;&#x42;</string><key>i</key><integer>-3</integer><key>r</key><real>2.5e1</real>
      <key>t</key><true/><key>f</key><false/><key>d</key><date>2012-01-02T03:04:05Z</date><key>e</key><string/>
      <key>c</key><string><![CDATA[<raw> & ok]]></string><key>a</key><array><dict/><array/></array></dict></plist>`;
    expect(parsePlist(xml, 'p.xml')).toEqual({ s: 'a <b> & AB', i: -3, r: 25, t: true, f: false, d: new Date('2012-01-02T03:04:05Z'), e: '', c: '<raw> & ok', a: [{}, []] });
  });

  it.each([
    ['<dict/>', /p\.xml line 1: not a property list: no <plist> element/],
    ['<plist><integer>1.5</integer></plist>', /p\.xml line 1: <integer> holds '1\.5'/],
    ['<plist><dict><key>k</key><foo/></dict></plist>', /p\.xml line 1 \(k\): <foo\/> is not a property list value/],
    ['<plist><array><string>x</array></plist>', /p\.xml line 1 \(\[0\]\): expected <\/string>, found <\/array>/],
    ['<plist><string>&nbsp;</string></plist>', /p\.xml line 1: unknown XML entity &nbsp;/],
    ['<plist><string>x</string></plist><extra/>', /p\.xml line 1: <extra\/> after <\/plist>/],
    ['<plist>\n<array>\n<string>x</string>', /p\.xml line 3 \(\): the document ends inside an <array>|p\.xml line 3: the document ends inside an <array>/],
  ])('refuses %s', (xml, message) => {
    expect(() => parsePlist(xml, 'p.xml')).toThrow(DatasetError);
    expect(() => parsePlist(xml, 'p.xml')).toThrow(message);
  });

  it('names the element of a bad INbreast ROI', () => {
    expect(() => parseInbreastXml('<plist><dict><key>Images</key><array><dict><key>ROIs</key><string>x</string></dict></array></dict></plist>', 'r.xml')).toThrow('r.xml (Images[0].ROIs): not an <array>');
    expect(() => parseInbreastXml('<plist><array/></plist>', 'r.xml')).toThrow('r.xml (plist): the root is not a <dict>');
  });
});
