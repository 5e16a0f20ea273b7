import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// Native addons (onnxruntime-node, better-sqlite3) stay external in main/preload: electron-vite externalises
// `dependencies` by default, and they are loaded from node_modules at run time.
export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'src/main/index.ts'),
          'engine-process': resolve(__dirname, 'src/main/engine-process.ts'),
          // The capture's engine thread, located by src/capture/engine-worker-backend.ts next to the bundle.
          'capture-worker': resolve(__dirname, 'src/capture/engine-worker.ts'),
          // The analysis thread, located by src/api/analysis-thread.ts next to the bundle.
          'analysis-worker': resolve(__dirname, 'src/api/analysis-worker.ts'),
        },
      },
    },
  },
  preload: {
    // A sandboxed preload cannot be an ES module, so it is emitted as CommonJS.
    build: {
      rollupOptions: {
        input: { index: resolve(__dirname, 'src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src/renderer'),
    build: { minify: true, rollupOptions: { input: { index: resolve(__dirname, 'src/renderer/index.html') } } },
    plugins: [svelte()],
  },
});
