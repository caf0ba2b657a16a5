// The import boundaries of docs/architecture.md are enforced by ESLint; these cases prove the
// rules bite (a misconfigured pattern would silently allow everything).

import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

async function messagesOf(rule: string, file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: file });
  return result!.messages.filter((m) => m.ruleId === rule).map((m) => m.message);
}

const restrictedImports = (file: string, code: string) => messagesOf('no-restricted-imports', file, code);

describe('import boundaries', () => {
  it.each([
    ['src/dicom/x.ts', "import { y } from '../ml/y.js';", 'src/dicom must not import src/ml'],
    ['src/ml/x.ts', "import { y } from '../dicom/y.js';", 'src/ml must not import src/dicom'],
    ['src/domain/x.ts', "import { y } from '../config/y.js';", 'src/domain must not import src/config'],
    ['src/training/x.ts', "import { y } from '../pipeline/y.js';", 'src/training must not import src/pipeline'],
    ['src/pipeline/x.ts', "import { y } from '../graphql/y.js';", 'src/pipeline must not import src/graphql'],
    ['src/graphql/x.ts', "import { PrismaClient } from '@prisma/client';", 'Only src/store touches Prisma'],
    ['src/pipeline/x.ts', "import { y } from '../store/generated/sqlite/client.js';", 'Only src/store touches Prisma'],
    ['src/graphql/x.ts', "import { y } from '../cli/y.js';", 'src/graphql must not import src/cli'],
    // The API reaches dicom and ml through the pipeline (e.g. src/pipeline/model-evidence.ts).
    ['src/graphql/x.ts', "import { y } from '../ml/y.js';", 'src/graphql must not import src/ml'],
    ['src/graphql/schema/x.ts', "import { y } from '../../ml/registry/model-evidence.js';", 'src/graphql must not import src/ml'],
    ['src/graphql/resolvers/x.ts', "import { y } from '../../dicom/y.js';", 'src/graphql must not import src/dicom'],
  ])('%s: refuses %s', async (file, code, message) => {
    expect((await restrictedImports(file, `${code}\nexport const z = y;\n`)).join('\n')).toContain(message);
  });

  it.each([
    ['src/pipeline/x.ts', "import { y } from '../store/index.js';"],
    ['src/training/x.ts', "import { y } from '../ml/y.js';"],
    ['src/store/x.ts', "import { y } from '@prisma/adapter-pg';"],
    ['src/graphql/x.ts', "import { y } from '../pipeline/y.js';"],
    ['src/graphql/schema/x.ts', "import { y } from '../../pipeline/model-evidence.js';"],
    ['src/cli/x.ts', "import { y } from '../graphql/y.js';"],
  ])('%s: allows %s', async (file, code) => {
    expect(await restrictedImports(file, `${code}\nexport const z = y;\n`)).toEqual([]);
  });

  // import-x/no-cycle follows the real files on disk, so each case stands in for one of them
  // with an import that would close a circle through the others.
  it.each([
    // the job-queue circle of issue 19: an implementation importing the factory that imports it
    ['src/pipeline/graphile-job-queue.ts', "import { createJobQueue } from './job-queue.js';\nexport const z = createJobQueue;\n"],
    // the trainer's run state importing a phase that imports it
    ['src/training/trainer/run-state.ts', "import { stage1 } from './stage1.js';\nexport const z = stage1;\n"],
  ])('%s: refuses an import cycle', async (file, code) => {
    expect(await messagesOf('import-x/no-cycle', file, code)).not.toEqual([]);
  });

  it.each([
    ['src/pipeline/graphile-job-queue.ts', "import type { JobQueue } from './job-queue-types.js';\nexport type Z = JobQueue;\n"],
    ['src/pipeline/x.ts', "import { createJobQueue } from './job-queue.js';\nexport const z = createJobQueue;\n"],
  ])('%s: allows an import that closes no cycle', async (file, code) => {
    expect(await messagesOf('import-x/no-cycle', file, code)).toEqual([]);
  });
});
