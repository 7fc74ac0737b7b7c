import { defineConfig } from 'vite';

// Library mode: one ES module and one CommonJS file; React stays the app's own.
export default defineConfig({
  build: {
    lib: {
      entry: 'src/index.js',
      name: 'NorPayReact',
      fileName: (format) => (format === 'es' ? 'norpay-react.js' : 'norpay-react.cjs'),
      formats: ['es', 'cjs'],
    },
    rollupOptions: {
      external: ['react', 'react/jsx-runtime'],
      output: { exports: 'named' },
    },
    sourcemap: true,
  },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.js'],
  },
});
