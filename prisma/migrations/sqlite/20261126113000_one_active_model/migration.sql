-- At most one active model version, enforced by the database: two activations racing on
-- PostgreSQL's read committed could otherwise both commit. Written by hand: Prisma's schema
-- language cannot express a partial index, so prisma/schema.prisma does not show it.
CREATE UNIQUE INDEX "ModelVersion_one_active" ON "ModelVersion"("active") WHERE "active" = 1;
