-- AlterTable
ALTER TABLE "Study" ADD COLUMN     "contentFingerprint" TEXT,
ADD COLUMN     "lastAnnouncedAt" TIMESTAMP(3);
