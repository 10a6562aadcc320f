import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code is replayed: it may import only the workflow SDK, pure core modules and activity types.
const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['node_modules/**', '.evolve/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Heartbeat details land in the history: they leave only through activities/heartbeat.ts, which redacts.
    files: ['**/*.ts'],
    ignores: ['activities/heartbeat.ts', 'test/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='heartbeat']",
          message: 'Heartbeat through heartbeat() of activities/heartbeat.ts: it redacts the details.',
        },
      ],
    },
  },
  {
    // node:test's test() returns a promise the runner itself awaits.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: 'test', package: 'node:test' }] },
      ],
    },
  },
  // Layers: core < storage < activities, trainers, report, codec < workers, client. Nothing imports upward.
  ...[
    { files: ['activities/**/*.ts'], upward: ['**/client/*', '**/workers/*'] },
    {
      files: ['storage/**/*.ts', 'trainers/**/*.ts', 'report/**/*.ts', 'codec/**/*.ts'],
      upward: ['**/client/*', '**/workers/*', '**/activities/*'],
    },
    // Activities run in the worker: the CLI imports their types only.
    { files: ['client/**/*.ts'], upward: ['**/activities/*'] },
  ].map(({ files, upward }) => ({
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: upward,
              importNamePattern: '^(?!type)',
              allowTypeImports: true,
              message: 'An upward import: move what both sides need to a layer below them.',
            },
          ],
        },
      ],
    },
  })),
  {
    files: ['workflows/**/*.ts', 'core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow and core code must stay deterministic.',
          })),
          patterns: [
            {
              group: ['@temporalio/worker', '@temporalio/client', '@temporalio/activity', 'openai', 'yaml'],
              message: 'Side effects belong in activities.',
            },
            {
              group: ['**/activities/*', '**/activities'],
              importNamePattern: '^(?!type)',
              allowTypeImports: true,
              message: 'Import activity types only.',
            },
          ],
        },
      ],
    },
  },
);
