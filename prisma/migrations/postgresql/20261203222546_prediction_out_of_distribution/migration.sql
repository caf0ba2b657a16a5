-- AlterTable
ALTER TABLE "Prediction" ADD COLUMN     "flags" JSONB,
ADD COLUMN     "outOfDistribution" DOUBLE PRECISION,
ADD COLUMN     "outOfDistributionFlagged" BOOLEAN;
