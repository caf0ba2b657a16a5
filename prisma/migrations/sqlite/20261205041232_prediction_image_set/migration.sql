-- AlterTable
ALTER TABLE "Prediction" ADD COLUMN "imageSet" TEXT;
