// Input types. Ranges and formats are checked by class-validator before a resolver runs, so a
// bad value is refused with the field named and nothing is written.

import { ArrayMaxSize, ArrayMinSize, IsIn, IsOptional, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { ArgsType, Field, Float, InputType, Int } from 'type-graphql';
import { JobStatusValue, LabelSourceValue, LabelValueValue, RoleValue, Side, StudySortValue, StudyStatusValue, TrainingDatasetValue } from './enums.js';

/** An ISO date (YYYY-MM-DD) or a DICOM date (YYYYMMDD). */
const DATE = /^\d{4}-?\d{2}-?\d{2}$/;
const UID = /^[0-9]+(\.[0-9]+)*$/;

@InputType({ description: 'Which studies to list; all conditions must hold' })
export class StudyFilter {
  @Field(() => String, { nullable: true, description: 'Study date from (inclusive), YYYY-MM-DD' })
  @IsOptional()
  @Matches(DATE, { message: 'must be a date YYYY-MM-DD' })
  from?: string;

  @Field(() => String, { nullable: true, description: 'Study date to (inclusive), YYYY-MM-DD' })
  @IsOptional()
  @Matches(DATE, { message: 'must be a date YYYY-MM-DD' })
  to?: string;

  @Field(() => StudyStatusValue, { nullable: true }) status?: StudyStatusValue;

  @Field(() => Float, { nullable: true, description: 'Lowest exam probability (inclusive)' })
  @IsOptional()
  @Min(0)
  @Max(1)
  minScore?: number;

  @Field(() => Float, { nullable: true, description: 'Highest exam probability (inclusive)' })
  @IsOptional()
  @Min(0)
  @Max(1)
  maxScore?: number;

  @Field(() => Side, { nullable: true, description: 'Studies with a result (or, unscored, an image) for this breast' }) laterality?: Side;

  @Field(() => String, { nullable: true, description: 'Scores of this model version (default: the active one)' })
  @IsOptional()
  @Length(1, 128)
  modelVersion?: string;

  @Field(() => Boolean, { nullable: true, description: 'true: studies with at least one label; false: studies without' }) labelled?: boolean;
}

@ArgsType()
export class StudiesArgs {
  @Field(() => StudyFilter, { nullable: true })
  @IsOptional()
  @ValidateNested()
  filter?: StudyFilter;

  @Field(() => StudySortValue, { defaultValue: StudySortValue.SCORE_DESC }) sort!: StudySortValue;

  @Field(() => Int, { defaultValue: 50, description: 'Page size, 1..200' })
  @Min(1)
  @Max(200)
  first!: number;

  @Field(() => String, { nullable: true, description: 'endCursor of the previous page' })
  @IsOptional()
  @Length(1, 512)
  after?: string;
}

@ArgsType()
export class WorklistArgs {
  @Field(() => Int, { defaultValue: 50 })
  @Min(1)
  @Max(200)
  first!: number;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 512)
  after?: string;
}

@InputType({ description: 'An outcome for one image (sopInstanceUid) or one breast (laterality) of a study' })
export class LabelInput {
  @Field(() => String)
  @Matches(UID, { message: 'must be a DICOM UID' })
  @Length(1, 64)
  studyInstanceUid!: string;

  @Field(() => String, { nullable: true, description: 'Label this image; leave out to label a breast' })
  @IsOptional()
  @Matches(UID, { message: 'must be a DICOM UID' })
  @Length(1, 64)
  sopInstanceUid?: string;

  @Field(() => Side, { nullable: true, description: 'Label this breast (required without sopInstanceUid)' }) laterality?: Side;

  @Field(() => LabelValueValue) value!: LabelValueValue;
  @Field(() => LabelSourceValue) source!: LabelSourceValue;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(0, 2000)
  note?: string;
}

@ArgsType()
export class SubmitLabelsArgs {
  @Field(() => [LabelInput])
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ValidateNested()
  labels!: LabelInput[];
}

@InputType({ description: 'A retraining run: stage-2 training on image-level labels, evaluated by cross-validation over women' })
export class TrainingConfigInput {
  @Field(() => TrainingDatasetValue, { defaultValue: TrainingDatasetValue.LABELS }) dataset!: TrainingDatasetValue;

  @Field(() => String, { nullable: true, description: 'Model version to start from (default: the active one)' })
  @IsOptional()
  @Length(1, 128)
  baseVersion?: string;

  @Field(() => String, { nullable: true, description: 'Version name of the new model (default: generated)' })
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'must be 1-64 letters, digits, dots, dashes or underscores' })
  version?: string;

  @Field(() => Int, { defaultValue: 10 })
  @Min(1)
  @Max(500)
  epochs!: number;

  @Field(() => Int, { defaultValue: 5, description: 'Cross-validation folds over women' })
  @Min(2)
  @Max(20)
  folds!: number;

  @Field(() => Float, { defaultValue: 1e-4 })
  @Min(1e-7)
  @Max(1)
  learningRate!: number;

  @Field(() => Int, { defaultValue: 8 })
  @Min(1)
  @Max(256)
  batchSize!: number;

  @Field(() => Int, { defaultValue: 12345 })
  @Min(0)
  @Max(2 ** 31 - 1)
  seed!: number;

  @Field(() => Boolean, { defaultValue: false, description: 'Phase 2: train all layers (slow on CPU)' }) trainAllLayers!: boolean;
}

@ArgsType()
export class CreateApiKeyArgs {
  @Field(() => String)
  @Length(1, 200)
  name!: string;

  @Field(() => RoleValue) role!: RoleValue;
}

@ArgsType()
export class AuditArgs {
  @Field(() => String, { nullable: true }) actor?: string;
  @Field(() => String, { nullable: true }) action?: string;
  @Field(() => Date, { nullable: true }) since?: Date;

  @Field(() => Int, { defaultValue: 100 })
  @Min(1)
  @Max(1000)
  first!: number;
}

export const JOB_KINDS = ['score-study', 'train', 'evaluate'] as const;

@ArgsType()
export class JobsArgs {
  @Field(() => String, { nullable: true, description: 'score-study, train or evaluate' })
  @IsOptional()
  @IsIn(JOB_KINDS as unknown as string[])
  kind?: string;

  @Field(() => JobStatusValue, { nullable: true }) status?: JobStatusValue;

  @Field(() => Int, { defaultValue: 50 })
  @Min(1)
  @Max(500)
  first!: number;
}
