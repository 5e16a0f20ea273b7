#!/usr/bin/env node
// The CLI runs the TypeScript sources in this process through tsx's loader (no child process), so the pid a shell
// shows for `node bin/routescope.mjs` is the worker itself; under npx, src/cli/launcher-watch.ts stops the worker
// when npm goes away.
import { register } from 'tsx/esm/api';
register();
const { stopWhenLauncherExits } = await import('../src/cli/launcher-watch.ts');
stopWhenLauncherExits();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
