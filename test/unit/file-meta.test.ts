import { describe, expect, it } from 'vitest';
import { transferSyntaxOf } from '../../src/dicom/file-meta.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

describe('transferSyntaxOf', () => {
  it('reads (0002,0010) from a Part 10 file', () => {
    expect(transferSyntaxOf(mammogram(newStudyIds()).bytes)).toBe('1.2.840.10008.1.2.1');
  });

  it('returns null for bytes that are not Part 10 or are cut inside the meta header', () => {
    expect(transferSyntaxOf(new TextEncoder().encode('hello'))).toBeNull();
    expect(transferSyntaxOf(new Uint8Array(300))).toBeNull();
    expect(transferSyntaxOf(mammogram(newStudyIds()).bytes.subarray(0, 150))).toBeNull();
  });
});
