// UIDs for what mammocad creates. Without an organisational root of its own, mammocad uses the
// UUID-derived form "2.25.<128-bit integer>" (PS3.5 B.2, ISO/IEC 9834-8), which needs no
// registration and is at most 44 characters.

import { createHash, randomUUID } from 'node:crypto';

const UUID_ROOT = '2.25';

/** A new, random UID. */
export function newUid(): string {
  return `${UUID_ROOT}.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

/**
 * The same UID for the same name, every time (a name-based UUID, like UUID version 5 but
 * with SHA-256): for identifiers that must not change when a report is rebuilt, such as the
 * tracking UIDs of its measurement groups, or a host's device UID.
 */
export function uidFromName(name: string): string {
  const bytes = createHash('sha256').update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version nibble, as a UUID would carry it
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant bits
  return `${UUID_ROOT}.${BigInt(`0x${bytes.toString('hex')}`).toString()}`;
}

/** Identifies the software that wrote a Part 10 file (File Meta Information, PS3.7 D.3.3.2). */
export const IMPLEMENTATION_CLASS_UID = uidFromName('mammocad implementation class');
export const IMPLEMENTATION_VERSION_NAME = 'MAMMOCAD';
