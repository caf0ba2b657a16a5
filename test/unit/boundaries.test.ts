// The import boundaries of docs/architecture.md are enforced by ESLint; these cases prove the
// rules bite (a misconfigured pattern would silently allow everything).

import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

async function restrictedImports(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: file });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

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
  ])('%s: refuses %s', async (file, code, message) => {
    expect((await restrictedImports(file, `${code}\nexport const z = y;\n`)).join('\n')).toContain(message);
  });

  it.each([
    ['src/pipeline/x.ts', "import { y } from '../store/index.js';"],
    ['src/training/x.ts', "import { y } from '../ml/y.js';"],
    ['src/store/x.ts', "import { y } from '@prisma/adapter-pg';"],
    ['src/graphql/x.ts', "import { y } from '../pipeline/y.js';"],
    ['src/cli/x.ts', "import { y } from '../graphql/y.js';"],
  ])('%s: allows %s', async (file, code) => {
    expect(await restrictedImports(file, `${code}\nexport const z = y;\n`)).toEqual([]);
  });
});
