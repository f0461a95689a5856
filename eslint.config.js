// Lint rules that carry the layer contract of DESIGN.md §1.
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'crypto',
  'child_process',
  'http',
  'https',
  'net',
  'stream',
  'url',
  'util',
  'worker_threads',
  'zlib',
  'events',
  'buffer',
  'process',
  'timers',
];
const heavy = [
  'apache-arrow',
  'apache-arrow/*',
  'parquet-wasm',
  'parquet-wasm/*',
  'hyparquet',
  'hyparquet-*',
  'parquetjs-lite',
  '@aws-sdk/*',
  '@tensorflow/*',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.retort/**',
      'bin/**',
      'eslint.config.js',
      'test/replay/histories/**',
      'bench/**/*.py',
    ],
  },
  ...tseslint.configs.strict,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['workers/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...nodeBuiltins.map((m) => `node:${m}`)].map((name) => ({
            name,
            message: 'Workflow code is deterministic: no Node built-ins.',
          })),
          patterns: [
            { group: heavy, message: 'Workflows carry references, never data: no Arrow/Parquet/S3/tfjs.' },
            { group: ['node:*'], message: 'No Node built-ins in workflows.' },
            // Exceptions: Aioli's mixing math and ml/eval's meanStd are plain JS (no tfjs, no I/O) and run inside
            // workflows (mixAioli; distillDataset's summaries use the one std convention).
            {
              group: [
                '../activities',
                '../activities/*',
                '../storage/*',
                '../ml/*',
                '!../ml/methods',
                '../ml/methods/*',
                '!../ml/methods/aioli',
                '../ml/methods/aioli/*',
                '!../ml/methods/aioli/*.js',
                '!../ml/eval',
                '../ml/eval/*',
                '!../ml/eval/mean-std.js',
                '../workers/*',
              ],
              allowTypeImports: true,
              message:
                'Workflows import activity types only (values: ml/methods/aioli/ and ml/eval/mean-std.ts only).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['schemas/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', ...heavy, '@temporalio/worker', '@temporalio/activity', '../*'],
              message: 'schemas/ imports only zod (and @temporalio/common types).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['ml/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                'apache-arrow',
                'parquet-wasm',
                '@aws-sdk/*',
                '@temporalio/*',
                '../../storage/*',
                '../../activities/*',
                '../../workflows/*',
                '@tensorflow/tfjs-node*',
              ],
              message: 'ml/ is pure tfjs-core math: no I/O, no Temporal.',
            },
          ],
        },
      ],
    },
  },
  {
    // Aioli's math runs inside the mixAioli workflow: plain deterministic JS that imports only its own
    // folder and the dependency-free ml/train/rng.ts (which imports nothing).
    files: ['ml/methods/aioli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./[\\w-]+\\.js$|\\.\\./\\.\\./train/rng\\.js$)',
              message: 'ml/methods/aioli/ runs in a workflow: only ./*.js and ../../train/rng.js.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['ml/train/rng.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '.', message: 'rng.ts runs in a workflow (via Aioli): no imports.' }] },
      ],
    },
  },
  {
    files: ['storage/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../ml/*', '@temporalio/*'], message: 'storage/ knows nothing of ml/ or Temporal.' },
          ],
        },
      ],
    },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../ml/*', '../activities/*', '@tensorflow/*'],
              allowTypeImports: true,
              message: 'client/ must not import ml/ or activities/.',
            },
          ],
        },
      ],
    },
  },
);
