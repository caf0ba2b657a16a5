-- AlterTable
ALTER TABLE "Prediction" ADD COLUMN "flags" JSONB;
ALTER TABLE "Prediction" ADD COLUMN "outOfDistribution" REAL;
ALTER TABLE "Prediction" ADD COLUMN "outOfDistributionFlagged" BOOLEAN;
