// Lint rules, including the import boundaries of docs/architecture.md:
//   domain <- dicom, ml <- training <- pipeline <- graphql <- cli, main
//   dicom and ml never import each other; the API (src/graphql) reaches dicom and ml only
//   through src/pipeline; only src/store touches Prisma; no import cycles anywhere in src.
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// src/cli (the command groups main.ts registers) is part of the entry point: it may import
// everything, and nothing else may import it.
const folders = ['config', 'domain', 'dicom', 'ml', 'training', 'store', 'pipeline', 'graphql', 'cli'];

/** What each folder may import from the others (main.ts may import everything). */
const allowed = {
  domain: [],
  config: ['domain'],
  dicom: ['domain', 'config'],
  ml: ['domain', 'config'],
  store: ['domain', 'config'],
  training: ['domain', 'config', 'dicom', 'ml', 'store'],
  pipeline: ['domain', 'config', 'dicom', 'ml', 'training', 'store'],
  // Not dicom or ml: the API reaches them through the pipeline's use cases.
  graphql: ['domain', 'config', 'training', 'store', 'pipeline'],
};

const prismaImports = ['@prisma/*', '**/generated/**', 'better-sqlite3', 'pg'];

const boundaryRules = Object.entries(allowed).map(([folder, ok]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...folders
            .filter((other) => other !== folder && !ok.includes(other))
            .map((other) => ({
              group: [`../${other}/*`, `../${other}`, `../../${other}/*`, `../../../${other}/*`],
              message: `src/${folder} must not import src/${other} (see docs/architecture.md, "Layout").`,
            })),
          { group: ['../main', '../main.js'], message: 'Only the entry point imports main.ts.' },
          ...(folder === 'store' ? [] : [{ group: prismaImports, message: 'Only src/store touches Prisma and the database drivers.' }]),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'var/', 'coverage/', 'src/store/generated/', 'prisma/.generated/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'off',
    },
  },
  ...boundaryRules,
  {
    // No import cycles in src (type-only imports do not count: they vanish at run time). The
    // resolver maps the .js of an import to the .ts beside it; packages are not followed.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['src/main.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: prismaImports, message: 'Only src/store touches Prisma.' }] }] },
  },
  {
    // The web console's app runs in the browser (its globals, JSX in .jsx files; src/console/build.ts).
    files: ['src/console/app/**/*.{js,jsx}'],
    languageOptions: { globals: { ...globals.browser }, parserOptions: { ecmaFeatures: { jsx: true } } },
  },
);
