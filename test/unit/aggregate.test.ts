import { describe, expect, it } from 'vitest';
import { aggregateScores } from '../../src/domain/index.js';

describe('aggregateScores', () => {
  it('takes the maximum over each breast\'s views and over the exam', () => {
    const result = aggregateScores([
      { sopInstanceUid: 'l-cc', laterality: 'L', probability: 0.2 },
      { sopInstanceUid: 'l-mlo', laterality: 'L', probability: 0.7 },
      { sopInstanceUid: 'r-cc', laterality: 'R', probability: 0.1 },
      { sopInstanceUid: 'u', laterality: 'U', probability: 0.05 },
    ]);
    expect(result.breasts).toEqual([
      { laterality: 'L', probability: 0.7, sources: ['l-cc', 'l-mlo'] },
      { laterality: 'R', probability: 0.1, sources: ['r-cc'] },
    ]);
    expect(result.exam).toEqual({ probability: 0.7, sources: ['l-cc', 'l-mlo', 'r-cc', 'u'] });
  });

  it('has no breast result for a side without images, and refuses bad probabilities', () => {
    expect(aggregateScores([{ sopInstanceUid: 'x', laterality: 'U', probability: 0.3 }]).breasts).toEqual([]);
    expect(() => aggregateScores([{ sopInstanceUid: 'x', laterality: 'L', probability: Number.NaN }])).toThrow(/images\[0\]\.probability/);
    expect(() => aggregateScores([])).toThrow(/at least one/);
  });
});
