// The checks beside the headline AUC that catch a model which learnt something other than the
// breast (the RSNA screening README's "shortcuts to rule out"): the AUC within each machine and
// each site (a model that learnt the scanner scores well overall and at chance within one), the
// AUC of age alone (what a model gets for free where women with cancer are older), and the AUC
// within 10-year age bands (what is left once age cannot separate the classes). Computed from
// scored images, so it is the same for any model and any data set with these columns.

import { bootstrapAucCi } from './bootstrap.js';
import { auc } from './roc.js';
import { ageBand, compareAgeBands, stratifiedAuc } from './stratified-auc.js';

export const DEFAULT_GROUP_COLUMNS = ['machine_id', 'site_id'] as const;
/** The key of images that have no value in a grouping column. */
export const BLANK_GROUP = '(blank)';

export interface ScoredRecord {
  score: number;
  label: 0 | 1;
  /** The resampling cluster of the CIs. */
  woman: string;
  /** The data set's columns (age, site_id, machine_id, ...). */
  attributes: Readonly<Record<string, string>>;
}

export interface GroupAuc {
  n: number;
  positives: number;
  /** Null when the group has one class only. */
  auc: number | null;
  auc_ci: [number, number] | null;
}

export interface AgeOnlyAuc extends GroupAuc {
  /** Images left out because their age is missing or not a number. */
  without_age: number;
}

export interface AgeBandAuc {
  band: string;
  n: number;
  positives: number;
  pairs: number;
  auc: number | null;
}

export interface AgeStratifiedAuc extends GroupAuc {
  /** Within-band (positive, negative) pairs: the pooled value's denominator. */
  pairs: number;
  band_years: number;
  without_age: number;
  bands: AgeBandAuc[];
}

export interface GroupedEvaluation {
  /** column -> value -> AUC within the images having that value; only columns some image has. */
  auc_by_group: Record<string, Record<string, GroupAuc>>;
  /** Null when no image has an age. */
  age_only_auc: AgeOnlyAuc | null;
  age_stratified_auc: AgeStratifiedAuc | null;
}

export interface GroupedEvaluationOptions {
  groupColumns?: readonly string[];
  ageColumn?: string;
  bandYears?: number;
  samples?: number;
  seed?: number;
}

function bothClasses(labels: readonly number[]): boolean {
  return labels.includes(0) && labels.includes(1);
}

/** AUC with its CI by woman; nulls for one class. */
export function groupAuc(records: readonly ScoredRecord[], options: { samples?: number; seed?: number } = {}, score: (r: ScoredRecord) => number = (r) => r.score): GroupAuc {
  const labels = records.map((r) => r.label);
  const positives = labels.filter((l) => l === 1).length;
  if (!bothClasses(labels)) return { n: records.length, positives, auc: null, auc_ci: null };
  const scores = records.map(score);
  const ci = bootstrapAucCi(scores, labels, { groups: records.map((r) => r.woman), ...options });
  return { n: records.length, positives, auc: auc(scores, labels), auc_ci: [ci.lower, ci.upper] };
}

/** A number of years, or null for a blank or a value that is not one. */
function ageOf(record: ScoredRecord, column: string): number | null {
  const text = record.attributes[column];
  if (text === undefined || text.trim() === '') return null;
  const age = Number(text);
  return Number.isFinite(age) && age >= 0 ? age : null;
}

export function groupedEvaluation(records: readonly ScoredRecord[], options: GroupedEvaluationOptions = {}): GroupedEvaluation {
  const bootstrap = { ...(options.samples === undefined ? {} : { samples: options.samples }), seed: options.seed ?? 20191 };
  const auc_by_group: GroupedEvaluation['auc_by_group'] = {};
  for (const column of options.groupColumns ?? DEFAULT_GROUP_COLUMNS) {
    if (!records.some((r) => r.attributes[column] !== undefined)) continue;
    const byValue = new Map<string, ScoredRecord[]>();
    for (const r of records) {
      const value = r.attributes[column] ?? BLANK_GROUP;
      const list = byValue.get(value);
      if (list) list.push(r);
      else byValue.set(value, [r]);
    }
    const values = [...byValue.keys()].sort((a, b) => {
      const x = Number(a);
      const y = Number(b);
      return Number.isFinite(x) && Number.isFinite(y) ? x - y : a < b ? -1 : a > b ? 1 : 0;
    });
    auc_by_group[column] = Object.fromEntries(values.map((v) => [v, groupAuc(byValue.get(v)!, bootstrap)]));
  }

  const ageColumn = options.ageColumn ?? 'age';
  const bandYears = options.bandYears ?? 10;
  const aged = records.flatMap((r) => {
    const age = ageOf(r, ageColumn);
    return age === null ? [] : [{ record: r, age }];
  });
  const withoutAge = records.length - aged.length;
  if (aged.length === 0) return { auc_by_group, age_only_auc: null, age_stratified_auc: null };

  const ageOnly = groupAuc(
    aged.map((a) => a.record),
    bootstrap,
    (r) => ageOf(r, ageColumn)!,
  );
  const stratified = stratifiedAuc(
    {
      scores: aged.map((a) => a.record.score),
      labels: aged.map((a) => a.record.label),
      strata: aged.map((a) => ageBand(a.age, bandYears).name),
      groups: aged.map((a) => a.record.woman),
    },
    { ...bootstrap, compareStrata: compareAgeBands },
  );
  return {
    auc_by_group,
    age_only_auc: { ...ageOnly, without_age: withoutAge },
    age_stratified_auc: {
      n: stratified.n,
      positives: stratified.positives,
      auc: stratified.auc,
      auc_ci: stratified.auc_ci,
      pairs: stratified.pairs,
      band_years: bandYears,
      without_age: withoutAge,
      bands: stratified.strata.map((s) => ({ band: s.stratum, n: s.n, positives: s.positives, pairs: s.pairs, auc: s.auc })),
    },
  };
}
