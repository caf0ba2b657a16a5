// Content items check their values against the value representations before anything is
// written, and a NUM keeps the exact double when a decimal string cannot.

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/index.js';
import { NO_UNITS, PROBABILITY_OF_CANCER, STUDY_DATE, STUDY_TIME, TRACKING_UNIQUE_IDENTIFIER } from '../../src/dicom/sr/codes.js';
import {
  codeContentItem,
  dateContentItem,
  decimalString,
  imageContentItem,
  numContentItem,
  numValueOf,
  referenceContentItem,
  timeContentItem,
  uidrefContentItem,
} from '../../src/dicom/sr/content-items.js';
import { newUid, uidFromName } from '../../src/dicom/sr/uids.js';

describe('decimal strings (DS, 16 characters at most)', () => {
  it.each([
    [0.5, '0.5'],
    [1, '1'],
    [0, '0'],
    [1e-7, '1e-7'],
    [0.7312345678901234, '0.73123456789012'],
    [73.12345678901234, '73.1234567890123'],
    [100, '100'],
  ])('%s -> %s', (value, text) => {
    expect(decimalString(value)).toBe(text);
    expect(decimalString(value).length).toBeLessThanOrEqual(16);
  });
});

describe('NUM content items', () => {
  it('add Floating Point Value only when the decimal string is not exact, and read back the exact number', () => {
    const exact = numContentItem('CONTAINS', PROBABILITY_OF_CANCER, 0.25, NO_UNITS);
    expect((exact.MeasuredValueSequence as Array<Record<string, unknown>>)[0]).not.toHaveProperty('FloatingPointValue');
    const long = numContentItem('CONTAINS', PROBABILITY_OF_CANCER, 0.7312345678901234, NO_UNITS);
    expect((long.MeasuredValueSequence as Array<Record<string, unknown>>)[0]).toMatchObject({ NumericValue: '0.73123456789012', FloatingPointValue: 0.7312345678901234 });
    expect(numValueOf(long, 'test')).toEqual({ value: 0.7312345678901234, unit: NO_UNITS });
  });

  it('refuse values that are not finite numbers', () => {
    expect(() => numContentItem('CONTAINS', PROBABILITY_OF_CANCER, Number.NaN, NO_UNITS)).toThrow(ValidationError);
    expect(() => numContentItem('CONTAINS', PROBABILITY_OF_CANCER, Number.POSITIVE_INFINITY, NO_UNITS)).toThrow(/must be a finite number/);
  });
});

describe('other content items', () => {
  it('refuse codes, UIDs, dates and times that the value representations cannot hold', () => {
    expect(() => codeContentItem('CONTAINS', PROBABILITY_OF_CANCER, { value: 'x'.repeat(17), scheme: 'DCM', meaning: 'too long' })).toThrow(/at most 16 characters/);
    expect(() => codeContentItem('CONTAINS', PROBABILITY_OF_CANCER, { value: '1', scheme: 'DCM', meaning: '' })).toThrow(/must not be empty/);
    expect(() => uidrefContentItem('HAS OBS CONTEXT', TRACKING_UNIQUE_IDENTIFIER, '1.02.3')).toThrow(/DICOM UID/);
    expect(() => dateContentItem('HAS ACQ CONTEXT', STUDY_DATE, '2026-01-01')).toThrow(/YYYYMMDD/);
    expect(() => timeContentItem('HAS ACQ CONTEXT', STUDY_TIME, '25:00')).toThrow(/HHMMSS/);
    expect(() => imageContentItem('CONTAINS', undefined, { sopClassUid: '1.2.3', sopInstanceUid: '' })).toThrow(/sopInstanceUid/);
    expect(() => referenceContentItem('INFERRED FROM', [2, 1])).toThrow(/starting at the root/);
    expect(referenceContentItem('INFERRED FROM', [1, 2, 3])).toEqual({ RelationshipType: 'INFERRED FROM', ReferencedContentItemIdentifier: [1, 2, 3] });
  });
});

describe('UIDs', () => {
  it('are valid 2.25 UIDs; name-based ones are stable and distinct', () => {
    const random = newUid();
    expect(random).toMatch(/^2\.25\.[1-9]\d*$/);
    expect(random.length).toBeLessThanOrEqual(64);
    expect(newUid()).not.toBe(random);
    expect(uidFromName('report 1 exam')).toBe(uidFromName('report 1 exam'));
    expect(uidFromName('report 1 exam')).not.toBe(uidFromName('report 2 exam'));
    expect(uidFromName('anything').length).toBeLessThanOrEqual(44);
  });
});
