-- DropIndex
DROP INDEX "Study_studyDate_idx";

-- CreateIndex
CREATE INDEX "Study_studyDate_id_idx" ON "Study"("studyDate", "id");

-- CreateIndex
CREATE INDEX "Prediction_level_createdAt_idx" ON "Prediction"("level", "createdAt");

-- CreateIndex
CREATE INDEX "Job_updatedAt_idx" ON "Job"("updatedAt");
