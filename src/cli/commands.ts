import { analyzeCommand } from './commands/analyze.js';
import { planCommand } from './commands/plan.js';
import { forwardCommand } from './commands/forward.js';
import { inspectCommand } from './commands/inspect.js';
import { serveCommand } from './commands/serve.js';
import { runsCommand } from './commands/runs.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { captureCommand } from './commands/capture.js';
import { demoCommand } from './commands/demo.js';
import { experimentCommand } from './commands/experiment.js';
import { scoreCommand } from './commands/score.js';
/**
 * The command table. Each command lives in its own file under src/cli/commands/ and is registered here;
 * helpers add their line, nothing else in this file should change.
 */
export interface Command {
  summary: string;
  run(args: string[]): Promise<number | void>;
}

export const commands: Record<string, Command> = {
  forward: forwardCommand,
  inspect: inspectCommand,
  plan: planCommand,
  analyze: analyzeCommand,
  serve: serveCommand,
  runs: runsCommand,
  export: exportCommand,
  import: importCommand,
  capture: captureCommand,
  demo: demoCommand,
  experiment: experimentCommand,
  score: scoreCommand,
};
