// Images of a study and the selection decision (eligible / skipped with a reason) per image.

import type { ImageRecord, ImageStatus, Laterality } from '../domain/index.js';
import { IMAGE_STATUSES, LATERALITIES, NotFoundError, assertOneOf } from '../domain/index.js';
import type { Db } from './database.js';

export interface ImageInput {
  sopInstanceUid: string;
  sopClassUid?: string | null;
  seriesUid: string;
  modality?: string | null;
  laterality: Laterality;
  view?: string | null;
  viewModifiers?: string[];
  transferSyntaxUid?: string | null;
  rows?: number | null;
  columns?: number | null;
  status: ImageStatus;
  statusReason?: string | null;
}

type ImageRow = Omit<ImageRecord, 'viewModifiers' | 'laterality' | 'status'> & {
  viewModifiers: string | null;
  laterality: string;
  status: string;
};

function toRecord(row: ImageRow): ImageRecord {
  return {
    ...row,
    laterality: row.laterality as Laterality,
    status: row.status as ImageStatus,
    viewModifiers: row.viewModifiers ? row.viewModifiers.split(',') : [],
  };
}

export class ImageRepository {
  constructor(private readonly db: Db) {}

  /** Inserts or refreshes the images of a study (by SOP Instance UID), in one transaction. */
  async upsertMany(studyId: string, images: ImageInput[]): Promise<ImageRecord[]> {
    for (const [i, image] of images.entries()) {
      assertOneOf(`images[${i}].laterality`, image.laterality, LATERALITIES);
      assertOneOf(`images[${i}].status`, image.status, IMAGE_STATUSES);
    }
    const rows = await this.db.$transaction(
      images.map((image) => {
        const data = {
          ...image,
          viewModifiers: image.viewModifiers?.length ? image.viewModifiers.join(',') : null,
        };
        return this.db.image.upsert({
          where: { sopInstanceUid: image.sopInstanceUid },
          create: { ...data, studyId },
          update: data,
        });
      }),
    );
    return rows.map(toRecord);
  }

  async listByStudy(studyId: string): Promise<ImageRecord[]> {
    const rows = await this.db.image.findMany({ where: { studyId }, orderBy: [{ seriesUid: 'asc' }, { sopInstanceUid: 'asc' }] });
    return rows.map(toRecord);
  }

  async findBySopInstanceUid(sopInstanceUid: string): Promise<ImageRecord | null> {
    const row = await this.db.image.findUnique({ where: { sopInstanceUid } });
    return row ? toRecord(row) : null;
  }

  async setStatus(sopInstanceUid: string, status: ImageStatus, reason: string | null = null): Promise<void> {
    assertOneOf('status', status, IMAGE_STATUSES);
    const { count } = await this.db.image.updateMany({ where: { sopInstanceUid }, data: { status, statusReason: reason } });
    if (count === 0) throw new NotFoundError('image', sopInstanceUid);
  }
}
