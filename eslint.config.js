// Flat config: typescript-eslint's recommended rules over everything we compile.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
      // uWS values come from services/shared/uws-native.ts, which picks the build and fails with a clear error.
      '@typescript-eslint/no-restricted-imports': ['error', { paths: ['uWebSockets.js', 'uws-legacy-node20'].map((name) => ({
        name, allowTypeImports: true, message: 'import type only; get the binding from loadNativeUws() (services/shared/uws-native.ts)',
      })) }],
    },
  },
);
