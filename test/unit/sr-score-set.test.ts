// The score set of `mammocad sr`: breast and exam results default to the maximum over their
// images; a malformed set is refused with the field named. Also the report.template setting.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError, ValidationError } from '../../src/domain/index.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { buildStructuredReport } from '../../src/dicom/sr/index.js';
import { reportInputFromScoreSet } from '../../src/dicom/sr/score-set.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.5' };
const model = { version: 'shen2019-v1', hash: 'd'.repeat(64) };

function threeImages() {
  const ids = newStudyIds();
  const images = [mammogram(ids, { laterality: 'L', view: 'CC' }), mammogram(ids, { laterality: 'L', view: 'MLO' }), mammogram(ids, { laterality: 'R', view: 'CC' })];
  return { uids: images.map((m) => m.sopInstanceUid), sources: images.map((m) => readPart10(m.bytes, 'test').dataset) };
}

describe('reportInputFromScoreSet', () => {
  it('computes breast and exam probabilities as the maximum over their images when not given', () => {
    const { uids, sources } = threeImages();
    const input = reportInputFromScoreSet(sources, { images: { [uids[0]!]: 0.2, [uids[1]!]: 0.35, [uids[2]!]: 0.6 }, threshold: 0.5, model }, device);
    expect(input.breasts).toEqual({ L: { probability: 0.35, sopInstanceUids: [uids[0], uids[1]] }, R: { probability: 0.6, sopInstanceUids: [uids[2]] } });
    expect(input.exam).toEqual({ probability: 0.6 });
    expect(input.algorithm).toEqual({ name: 'mammocad', version: 'shen2019-v1', modelVersionId: 'shen2019-v1', modelSha256: model.hash });
  });

  it('uses breast and exam probabilities and the model id when given', () => {
    const { uids, sources } = threeImages();
    const input = reportInputFromScoreSet(sources, { images: { [uids[0]!]: 0.2, [uids[2]!]: 0.6 }, breasts: { L: 0.25 }, exam: 0.7, threshold: 0.5, model: { ...model, id: 'mv-3' } }, device);
    expect(input.breasts).toEqual({ L: { probability: 0.25, sopInstanceUids: [uids[0]] }, R: { probability: 0.6, sopInstanceUids: [uids[2]] } });
    expect(input.exam.probability).toBe(0.7);
    expect(input.algorithm.modelVersionId).toBe('mv-3');
  });

  it.each([
    ['not an object', [], 'scores'],
    ['no images', { images: {}, threshold: 0.5, model }, 'scores.images'],
    ['a score that is a string', { images: { X: '0.5' }, threshold: 0.5, model }, "scores.images['X']"],
    ['no model', { images: { X: 0.5 }, threshold: 0.5 }, 'scores.model'],
    ['no model version', { images: { X: 0.5 }, threshold: 0.5, model: { hash: model.hash } }, 'scores.model.version'],
    ['no threshold', { images: { X: 0.5 }, model }, 'scores.threshold'],
    ['an unknown breast', { images: { X: 0.5 }, breasts: { B: 0.5 }, threshold: 0.5, model }, 'scores.breasts.B'],
  ])('refuses a score set with %s', (_label, scoreSet, field) => {
    const { uids, sources } = threeImages();
    const withUid = JSON.parse(JSON.stringify(scoreSet).replace(/"X"/g, JSON.stringify(uids[0])));
    expect(() => reportInputFromScoreSet(sources, withUid, device)).toThrow(ValidationError);
    try {
      reportInputFromScoreSet(sources, withUid, device);
    } catch (error) {
      expect((error as ValidationError).field).toBe(field.replace('X', uids[0]!));
    }
  });

  it('refuses a breast probability for a side without scored images', () => {
    const { uids, sources } = threeImages();
    expect(() => reportInputFromScoreSet(sources, { images: { [uids[0]!]: 0.2 }, breasts: { R: 0.9 }, threshold: 0.5, model }, device)).toThrow(/scores\.breasts\.R: no scored image shows the right breast/);
  });

  it('leaves range checks to the report builder, which refuses out-of-range and non-finite scores', () => {
    const { uids, sources } = threeImages();
    const infinite = JSON.parse(`{"images": {"${uids[0]}": 1e999}, "threshold": 0.5, "model": ${JSON.stringify(model)}}`);
    expect(() => buildStructuredReport(reportInputFromScoreSet(sources, infinite, device))).toThrow(/finite probability in \[0, 1\]; got Infinity/);
    const tooHigh = { images: { [uids[0]!]: 1.01 }, threshold: 0.5, model };
    expect(() => buildStructuredReport(reportInputFromScoreSet(sources, tooHigh, device))).toThrow(/got 1\.01/);
  });
});

describe('report.template setting', () => {
  it('defaults to TID1500 and is set by MAMMOCAD_REPORT_TEMPLATE, in any case', () => {
    expect(loadConfig({ env: {} }).config.report.template).toBe('TID1500');
    expect(loadConfig({ env: { MAMMOCAD_REPORT_TEMPLATE: 'tid4000' } })).toMatchObject({ config: { report: { template: 'TID4000' } }, sources: { 'report.template': '$MAMMOCAD_REPORT_TEMPLATE' } });
  });

  it('refuses other templates, naming the key and the variable', () => {
    expect(() => loadConfig({ env: { MAMMOCAD_REPORT_TEMPLATE: 'TID2000' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { MAMMOCAD_REPORT_TEMPLATE: 'TID2000' } })).toThrow(/report\.template \(\$MAMMOCAD_REPORT_TEMPLATE\): must be one of TID1500, TID4000; got "TID2000"/);
  });
});
