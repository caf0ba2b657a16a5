-- AlterTable
ALTER TABLE "Prediction" ADD COLUMN "heatMap" BLOB;
ALTER TABLE "Prediction" ADD COLUMN "heatMapColumns" INTEGER;
ALTER TABLE "Prediction" ADD COLUMN "heatMapRows" INTEGER;
ALTER TABLE "Prediction" ADD COLUMN "regions" JSONB;

-- AlterTable
ALTER TABLE "Report" ADD COLUMN "gspsSeriesUid" TEXT;
ALTER TABLE "Report" ADD COLUMN "gspsSopInstanceUid" TEXT;
