-- AlterTable
ALTER TABLE "Study" ADD COLUMN "contentFingerprint" TEXT;
ALTER TABLE "Study" ADD COLUMN "lastAnnouncedAt" DATETIME;
