-- AlterTable
ALTER TABLE "Prediction" ADD COLUMN     "heatMap" BYTEA,
ADD COLUMN     "heatMapColumns" INTEGER,
ADD COLUMN     "heatMapRows" INTEGER,
ADD COLUMN     "regions" JSONB;

-- AlterTable
ALTER TABLE "Report" ADD COLUMN     "gspsSeriesUid" TEXT,
ADD COLUMN     "gspsSopInstanceUid" TEXT;
