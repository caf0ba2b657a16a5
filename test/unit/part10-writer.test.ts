// The Part 10 writer against dcmjs, which wrote every file before it: the structured reports
// (both templates, with regions, with every note, with names in UTF-8 and in each form dcmjs
// takes), the presentation state and the connectivity-test SR come out byte for byte as dcmjs
// wrote them from the same data sets, and so does a data set with every VR written, empty and
// multiple values, nested and empty sequences, and the numbers dcmjs formats. dcmjs reads the
// files back to the data set written. What dcmjs would cut short, drop or guess is refused,
// naming the element.

import dcmjs from 'dcmjs';
import { describe, expect, it, vi } from 'vitest';
import { buildPresentationState } from '../../src/dicom/gsps/index.js';
import { DicomValueError, encodePart10 } from '../../src/dicom/part10-writer.js';
import { ValidationError } from '../../src/domain/index.js';
import { refusalWithoutValues } from '../../src/pipeline/write-report.js';
import { readPart10, type NaturalizedDataset } from '../../src/dicom/part10.js';
import { buildConnectivityTestSr, buildStructuredReport, type ReportInput } from '../../src/dicom/sr/index.js';
import { mammogram } from '../support/dicom-factory.js';
import { IRREGULAR_REGION, fourViewReportInput, squareRegion } from '../support/region-fixtures.js';

// The writer as the builders call it, recording what they write.
vi.mock('../../src/dicom/part10-writer.js', async (importOriginal) => {
  const original = await importOriginal<{ encodePart10: typeof encodePart10 }>();
  return { ...original, encodePart10: vi.fn(original.encodePart10) };
});

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const META: NaturalizedDataset = {
  FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
  MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.88.33',
  MediaStorageSOPInstanceUID: '2.25.9001',
  TransferSyntaxUID: EXPLICIT_LE,
  ImplementationClassUID: '2.25.9002',
  ImplementationVersionName: 'MAMMOCAD',
};

/** The file as dcmjs writes it: what writePart10 did before the writer. */
function viaDcmjs(meta: NaturalizedDataset, dataset: NaturalizedDataset): Uint8Array {
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}

/** Where two files first differ, with the bytes around it; undefined when they are the same. */
function difference(ours: Uint8Array, theirs: Uint8Array): string | undefined {
  let at = 0;
  while (at < ours.length && at < theirs.length && ours[at] === theirs[at]) at++;
  if (at === ours.length && at === theirs.length) return undefined;
  const around = (bytes: Uint8Array) => Buffer.from(bytes.subarray(Math.max(0, at - 16), at + 16)).toString('hex');
  return `first difference at byte ${at} (lengths ${ours.length} and ${theirs.length}): ${around(ours)} vs ${around(theirs)}`;
}

/** Runs `build` and checks every file it wrote against dcmjs's file of the same data set; returns how many it wrote. */
function expectAsDcmjsWrites(build: () => unknown): number {
  const writer = vi.mocked(encodePart10);
  writer.mockClear();
  build();
  writer.mock.calls.forEach(([meta, dataset], i) => {
    const result = writer.mock.results[i]!;
    expect(result.type).toBe('return');
    expect(difference(result.value as Uint8Array, viaDcmjs(meta, dataset))).toBeUndefined();
  });
  return writer.mock.calls.length;
}

const NOTE = 'RESEARCH USE ONLY: model not validated for clinical use (validation AUC 95% CI reaches 0.5)';

/** Four scored views and a fifth image that was not scored, of a patient named `patientName`. */
function study(patientName = 'Müller^Zoë'): { input: ReportInput; uids: string[] } {
  const { input, uids, ids } = fourViewReportInput([0.1234567890123456, 0.7312345678901234, 1e-7, 0.5], {
    patientName,
    overrides: { uids: { seriesInstanceUid: '2.25.601', sopInstanceUid: '2.25.602' }, createdAt: new Date(2026, 2, 4, 5, 6, 7, 80) },
  });
  const unscored = mammogram(ids, { laterality: 'R', view: 'CC' });
  return { uids: [...uids, unscored.sopInstanceUid], input: { ...input, sources: [...input.sources, readPart10(unscored.bytes, 'test').dataset] } };
}

function withRegions({ input, uids }: ReturnType<typeof study>): ReportInput {
  return { ...input, regions: { [uids[1]!]: [IRREGULAR_REGION, squareRegion(0.55, 20, 30)], [uids[3]!]: [squareRegion(0.4, 200, 200, 50)] } };
}

function withNotes({ input, uids }: ReturnType<typeof study>): ReportInput {
  return {
    ...input,
    evidence: { auc: 0.674, aucCi: [0.603, 0.743], dataset: 'rsna-screening', method: '4-fold cross-validation by woman, 722 women' },
    researchUse: { statement: NOTE },
    imageFlags: { [uids[3]!]: ['out of distribution: intensity histogram distance 3.2 (flagged above 1.0)'] },
    skippedImages: { [uids[4]!]: 'implausible image: 1x2 pixels (pixel spacing 74.7 mm)' },
  };
}

describe('the files mammocad writes are the files dcmjs wrote', () => {
  describe.each(['TID1500', 'TID4000'] as const)('%s structured report', (template) => {
    it.each([
      ['scores only; the patient name in UTF-8, as dcmjs reads it ([{ Alphabetic }])', () => study().input],
      ['with marked regions', () => withRegions(study())],
      ['with evidence, a research-use note, an image flag and a skipped image', () => withNotes(study())],
      // A plain object: sources only come as dcmjs Proxies when read from a file.
      ['with an ASCII patient name given as a string', () => {
        const { input } = study('DOE^JANE');
        return { ...input, sources: input.sources.map((source) => ({ ...source, PatientName: 'DOE^JANE' })) };
      }],
    ])('%s', (_, input) => {
      expect(expectAsDcmjsWrites(() => buildStructuredReport(input(), template))).toBe(1);
    });
  });

  it('the presentation state, plain and for research use', () => {
    expect(expectAsDcmjsWrites(() => buildPresentationState(withRegions(study()), { uids: { seriesInstanceUid: '2.25.7001', sopInstanceUid: '2.25.7002' } }))).toBe(1);
    const marked = study();
    expect(expectAsDcmjsWrites(() => buildPresentationState(withNotes({ ...marked, input: withRegions(marked) }), {}))).toBe(1);
  });

  it('the presentation state of images rescaled by a fraction: window values with float error are cut to 16 characters, as dcmjs does', () => {
    const base = study();
    // No window in the images: the presentation state computes one from the rescaled range (205.14999999999998).
    const sources = base.input.sources.map((source) => ({ ...source, RescaleSlope: 0.1, RescaleIntercept: -0.1, WindowCenter: undefined, WindowWidth: undefined }));
    expect(expectAsDcmjsWrites(() => buildPresentationState(withRegions({ ...base, input: { ...base.input, sources } }), {}))).toBe(1);
    const { dataset } = readPart10(vi.mocked(encodePart10).mock.results[0]!.value as Uint8Array, 'gsps');
    expect((dataset.SoftcopyVOILUTSequence as NaturalizedDataset[])[0]).toMatchObject({ WindowCenter: 205.149999999999, WindowWidth: 410.5 });
  });

  it('the connectivity-test SR', () => {
    expect(expectAsDcmjsWrites(() => buildConnectivityTestSr({ softwareVersion: '0.1.0', createdAt: new Date(2026, 0, 2, 3, 4, 5, 6) }))).toBe(1);
  });
});

/** Every VR the writer writes, with the values that take care: empty, multiple, odd lengths, numbers dcmjs turns into text. */
const EVERY_VR: NaturalizedDataset = {
  SpecificCharacterSet: 'ISO_IR 192',
  RetrieveAETitle: ['STORE', 'ODD'], // AE
  PatientAge: '045Y', // AS
  FrameIncrementPointer: [0x00181063, 0xfffee000], // AT
  ImageType: ['ORIGINAL', 'PRIMARY', ''], // CS, an empty value among others
  PatientSex: '', // CS, empty
  Modality: 'MG',
  StudyDate: '20260115', // DA
  SeriesDate: '20260101-20261231', // DA, a range: up to 18 characters
  ContentDate: null,
  EventElapsedTimes: [0.1, 1e-7, 123456789012, -0, 42, 0.1 + 0.2], // DS: numbers as String() gives them; the last cut to 16 characters
  PixelSpacing: ['0.5', '0.25'], // DS as strings
  PatientSize: 1.5,
  PatientWeight: [],
  AcquisitionDateTime: '20260115093005.120000+0100', // DT
  FloatingPointValue: [Math.PI, -0, 1e300], // FD: -0 is written as 0, as dcmjs does
  AnchorPoint: [140.2, -0], // FL
  LocalizingCursorPosition: [1.5, -2],
  InstanceNumber: 7, // IS
  SeriesNumber: '12',
  ReferencedFrameNumber: [1, 2, 3],
  StageNumber: null,
  Manufacturer: 'mammocad', // LO
  StudyDescription: 'Zoë’s study — 日本', // LO, UTF-8
  InstitutionName: '',
  AdditionalPatientHistory: 'odd', // LT
  EncapsulatedDocument: new Uint8Array([1, 2, 3]).buffer, // OB, odd: padded with NUL
  PrivateInformation: null,
  DoubleFloatPixelData: new Float64Array([2.5, -1]), // OD
  FloatPixelData: new Float32Array([1.5]), // OF
  RedPaletteColorLookupTableData: new Uint16Array([1, 2, 65535]), // OW
  PatientName: [{ Alphabetic: 'Müller^Zoë', Phonetic: 'MUELLER^ZOE' }], // PN: component groups
  ReferringPhysicianName: 'Doe^John', // PN as a string
  OperatorsName: ['A^B', '', 'C^D'], // PN: dcmjs leaves empty names out
  PerformingPhysicianName: [{ Alphabetic: 'X' }, { Ideographic: '山田^太郎' }],
  ConsultingPhysicianName: '',
  NameOfPhysiciansReadingStudy: null,
  AccessionNumber: 'ACC', // SH
  ReferencePixelX0: -100, // SL
  TagAngleSecondAxis: -5, // SS
  InstitutionAddress: 'Rue de l’Hôpital 1', // ST
  StudyTime: '093005.12', // TM
  SeriesTime: '0900-1000',
  LongCodeValue: 'odd-long-code', // UC
  SOPClassUID: '1.2.840.10008.5.1.4.1.1.88.33', // UI, odd: padded with NUL
  SOPInstanceUID: '2.25.9001',
  SimpleFrameList: [1, 4294967295], // UL
  SelectorUNValue: new Uint8Array([9, 8, 7, 6]).buffer, // UN
  CodingSchemeURL: 'https://example.org/x', // UR
  Rows: 512, // US
  AcquisitionMatrix: [0, 256, 256, 0],
  TextValue: 'Dr. Müller: ok', // UT
  SelectorUVValue: [5, 2n ** 63n], // UV
  // SQ: empty, nested, an empty item, one item given without its array
  ReferencedPerformedProcedureStepSequence: [],
  PerformedProcedureCodeSequence: null,
  ContentSequence: [
    {
      ValueType: 'CONTAINER',
      ConceptNameCodeSequence: [{ CodeValue: '111', CodingSchemeDesignator: 'DCM', CodeMeaning: 'x' }],
      ContentSequence: [{ ValueType: 'TEXT', TextValue: 'nested' }, {}],
    },
  ],
  OtherPatientIDsSequence: { PatientID: 'OTHER' },
};

describe('encodePart10', () => {
  it('writes every VR as dcmjs does', () => {
    // Ours first: dcmjs adds accessors to the person names it is given.
    const ours = encodePart10(META, EVERY_VR);
    expect(difference(ours, viaDcmjs(META, EVERY_VR))).toBeUndefined();
    const written = new Set(Object.values(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(EVERY_VR)).map((element) => element.vr));
    expect([...written].sort()).toEqual(
      ['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OW', 'PN', 'SH', 'SL', 'SQ', 'SS', 'ST', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV'],
    );
  });

  it('writes a value too long for a 16-bit length as UN with a 32-bit length, as dcmjs does', () => {
    // 16384 points of an outline: 65536 bytes of FL.
    const dataset = { GraphicData: Array.from({ length: 16384 }, (_, i) => i / 3), ImageComments: 'x'.repeat(70_001) };
    const bytes = encodePart10(META, dataset);
    expect(difference(bytes, viaDcmjs(META, dataset))).toBeUndefined();
    // (0070,0022) UN, reserved, length 65536
    expect(Buffer.from(bytes).includes(Buffer.from([0x70, 0x00, 0x22, 0x00, 0x55, 0x4e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00]))).toBe(true);
  });

  it('writes the bytes of a typed array that is a view into a larger buffer (dcmjs writes from the start of the buffer)', () => {
    const document = new Uint8Array([9, 9, 1, 2, 3, 4]).subarray(2);
    const read = dcmjs.data.DicomMessage.readFile(encodePart10(META, { EncapsulatedDocument: document }).slice().buffer);
    expect([...new Uint8Array(read.dict['00420011']!.Value![0] as ArrayBuffer)]).toEqual([1, 2, 3, 4]);
  });

  it('is read back by dcmjs to the data set it was given', () => {
    // Values in the form dcmjs reads them: single values bare, numbers as numbers, names as component groups.
    const dataset: NaturalizedDataset = {
      SpecificCharacterSet: 'ISO_IR 192',
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.88.33',
      SOPInstanceUID: '2.25.9001',
      PatientName: [{ Alphabetic: 'Müller^Zoë', Ideographic: '山田^太郎' }],
      PatientID: '',
      StudyDescription: 'Zoë’s study',
      ImageType: ['ORIGINAL', 'PRIMARY'],
      FrameIncrementPointer: 0x00181063,
      EventElapsedTimes: [0.1, 1e-7, 123456789012, 42],
      PatientSize: 1.5,
      InstanceNumber: 7,
      ReferencedFrameNumber: [1, 2],
      FloatingPointValue: Math.PI,
      LocalizingCursorPosition: [1.5, -2],
      Rows: 512,
      SimpleFrameList: [1, 4294967295],
      ReferencePixelX0: -100,
      TagAngleSecondAxis: -5,
      SelectorUVValue: [5n, 2n ** 63n],
      EncapsulatedDocument: [new Uint8Array([1, 2, 3, 4]).buffer],
      TextValue: 'Dr. Müller: ok',
      UID: '1.23',
      ReferencedPerformedProcedureStepSequence: [],
      ContentSequence: [
        { ValueType: 'CONTAINER', ContentSequence: [{ ValueType: 'TEXT', TextValue: 'nested' }] },
        { ValueType: 'UIDREF', UID: '2.25.5' },
      ],
    };
    const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
    const read = DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(encodePart10(META, dataset).slice().buffer).dict);
    // Plain data to compare: dcmjs's bookkeeping (_vrMap) and accessors left out, bigints and buffers as text.
    const plain = (value: unknown) =>
      JSON.parse(JSON.stringify(value, (key, v) => (key === '_vrMap' ? undefined : typeof v === 'bigint' ? `${v}n` : v instanceof ArrayBuffer ? [...new Uint8Array(v)] : v)));
    expect(plain(read)).toEqual(plain(dataset));
  });
});

describe('encodePart10 refuses what dcmjs would not write as given', () => {
  const refusal = (dataset: NaturalizedDataset) => () => encodePart10(META, dataset);

  it('tells a refused value apart from our own mistakes, and can say what is wrong without the value (it may be the patient\'s)', () => {
    const name = `O'Brien-Smythe^Mary-${'x'.repeat(60)}`;
    const caught = (dataset: NaturalizedDataset) => {
      try {
        encodePart10(META, dataset);
      } catch (error) {
        return error;
      }
      throw new Error('not refused');
    };
    const tooLong = caught({ PatientName: [{ Alphabetic: name }] });
    expect(tooLong).toBeInstanceOf(DicomValueError);
    expect(tooLong).toBeInstanceOf(ValidationError);
    expect((tooLong as DicomValueError).message).toContain("O'Brien");
    expect((tooLong as DicomValueError).withoutValue).toBe('PatientName (0010,0010) PN: a component group of 80 characters; PN allows at most 64');
    const sex = caught({ PatientSex: "F'EMALE-SCREENING" }) as DicomValueError;
    expect(sex.withoutValue).toBe('PatientSex (0010,0040) CS: a value of 17 characters; CS allows at most 16');
    expect(refusalWithoutValues(sex)).toBe(sex.withoutValue);
    // Another refusal of a report's input is told by its field, its problem only when that quotes nothing.
    expect(refusalWithoutValues(new ValidationError("sources['1.2.3'].PatientName", "'O'Brien' is not allowed"))).toBe('sources[…].PatientName: not valid in a report');
    expect(refusalWithoutValues(new ValidationError("sources['1.2.3'].RescaleSlope", 'the images are rescaled differently'))).toBe('sources[…].RescaleSlope: the images are rescaled differently');
    // A data set our builders got wrong is not the input's fault: a plain error, not bad input.
    const ours = caught({ ContentSequence: ['item'] });
    expect(ours).not.toBeInstanceOf(ValidationError);
  });

  it('a value too long for its VR, naming the element, its tag, VR and length (dcmjs cuts these short or throws)', () => {
    expect(refusal({ SOPInstanceUID: `2.25.${'1'.repeat(60)}` })).toThrow(/SOPInstanceUID \(0008,0018\) UI: .* is 65 characters; UI allows at most 64/);
    expect(refusal({ Modality: 'MAMMOGRAPHY-SCREEN' })).toThrow(/Modality \(0008,0060\) CS: .* is 18 characters; CS allows at most 16/);
    expect(refusal({ StudyDate: '2026011500' })).toThrow(/StudyDate \(0008,0020\) DA: .* is 10 characters; DA allows at most 8 \(18 for a range\)/);
    expect(refusal({ PatientName: [{ Alphabetic: 'X'.repeat(65) }] })).toThrow(/PatientName \(0010,0010\) PN: .* is 65 characters; PN allows at most 64/);
    expect(refusal({ InstanceNumber: 1e13 })).toThrow(/InstanceNumber \(0020,0013\) IS: .* is 14 characters; IS allows at most 12/);
    // Cutting an exponent off would change the number: 1.23456789012345 instead of 1.2345678901234568e-10.
    expect(refusal({ PatientSize: 1.2345678901234568e-10 })).toThrow(/PatientSize \(0010,1020\) DS: '1.2345678901234568e-10' is 22 characters; DS allows at most 16/);
    // Inside a sequence, the path to the element.
    expect(refusal({ ContentSequence: [{}, { ConceptNameCodeSequence: [{ CodingSchemeDesignator: 'DCM', CodeValue: '1', CodeMeaning: 'x', MappingResourceUID: `1.${'2'.repeat(64)}` }] }] })).toThrow(
      /ContentSequence\[1\]\.ConceptNameCodeSequence\[0\]\.MappingResourceUID \(0008,0118\) UI: .* is 66 characters/,
    );
  });

  it('a VR it does not write, naming the element, its tag and VR (dcmjs writes these as a guess)', () => {
    expect(refusal({ SmallestImagePixelValue: 0 })).toThrow(/SmallestImagePixelValue \(0028,0106\) xs: /);
    expect(refusal({ TrackPointIndexList: new Uint32Array([1]) })).toThrow(/TrackPointIndexList \(0066,0129\) OL: /);
    // With the VR given, as dcmjs keeps it for a file it read, it is written.
    const resolved = { SmallestImagePixelValue: 0, _vrMap: { SmallestImagePixelValue: 'US' } };
    expect(difference(encodePart10(META, resolved), viaDcmjs(META, resolved))).toBeUndefined();
  });

  it('a keyword not in the dictionary (dcmjs leaves it out) and values of the wrong kind (dcmjs mangles them)', () => {
    expect(refusal({ PatientsName: 'DOE^JANE' })).toThrow(/PatientsName: not a keyword of the DICOM dictionary/);
    expect(refusal({ Rows: '512' })).toThrow(/Rows \(0028,0010\) US: '512' is not an integer from 0 to 65535/);
    expect(refusal({ Rows: 70000 })).toThrow(/Rows \(0028,0010\) US: 70000 is not an integer/);
    expect(refusal({ InstanceNumber: 1.5 })).toThrow(/InstanceNumber \(0020,0013\) IS: 1.5 is not an integer/);
    expect(refusal({ Modality: true })).toThrow(/Modality \(0008,0060\) CS: true is not a string or a number/);
    expect(refusal({ EncapsulatedDocument: [1, 2, 3] })).toThrow(/EncapsulatedDocument \(0042,0011\) OB: has 3 values/);
    expect(refusal({ EncapsulatedDocument: 'text' })).toThrow(/EncapsulatedDocument \(0042,0011\) OB: the value must be an ArrayBuffer or a typed array; got string/);
    expect(refusal({ ContentSequence: ['item'] })).toThrow(/ContentSequence \(0040,A730\) SQ: item 0 is not a data set/);
    expect(() => encodePart10({ ...META, TransferSyntaxUID: '1.2.840.10008.1.2' }, {})).toThrow(/must name Explicit VR Little Endian/);
  });
});
