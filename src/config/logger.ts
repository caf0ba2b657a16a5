// The process logger: pino JSON to stderr (stdout stays free for command output and --json).
// Patient identifiers must never reach a log; the redaction list is a safety net for objects
// that carry them by mistake, not a licence to log them.

import { pino, type Logger } from 'pino';

export type { Logger };

const PATIENT_FIELDS = ['patientName', 'patientId', 'patientBirthDate', 'accessionNumber', 'PatientName', 'PatientID', 'PatientBirthDate', 'AccessionNumber'];

export function createLogger(level: string, fd = 2): Logger {
  return pino(
    {
      level,
      base: { service: 'mammocad' },
      redact: { paths: [...PATIENT_FIELDS, ...PATIENT_FIELDS.map((f) => `*.${f}`)], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: fd, sync: true }),
  );
}
