// The process logger: pino JSON to stderr (stdout stays free for command output and --json).
// Patient identifiers must never reach a log; the redaction list is a safety net for objects
// that carry them by mistake, not a licence to log them.

import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const PATIENT_FIELDS = ['patientName', 'patientId', 'patientBirthDate', 'accessionNumber', 'PatientName', 'PatientID', 'PatientBirthDate', 'AccessionNumber'];

/** `destination`: a file descriptor (default stderr), or a stream such as the CLI's progress line, which keeps the two apart. */
export function createLogger(level: string, destination: number | DestinationStream = 2): Logger {
  return pino(
    {
      level,
      base: { service: 'mammocad' },
      redact: { paths: [...PATIENT_FIELDS, ...PATIENT_FIELDS.map((f) => `*.${f}`)], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination,
  );
}
