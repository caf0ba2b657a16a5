import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';

describe('createLogger', () => {
  it('writes JSON lines and redacts patient identifiers, top level and one level down', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mammocad-log-')), 'log.jsonl');
    const fd = openSync(file, 'w');
    const logger = createLogger('info', fd);
    logger.info({ study: { patientName: 'DOE^JANE', PatientID: 'MRN123', studyHash: 'abc' }, patientBirthDate: '19600101' }, 'scored');
    logger.debug('below the level');
    closeSync(fd);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'scored', service: 'mammocad', patientBirthDate: '[redacted]' });
    expect(lines[0]!.study).toEqual({ patientName: '[redacted]', PatientID: '[redacted]', studyHash: 'abc' });
    expect(JSON.stringify(lines)).not.toMatch(/DOE|MRN123|19600101/);
  });
});
