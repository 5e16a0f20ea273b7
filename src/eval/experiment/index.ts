/** Guided steering experiments: spec, arms, the resumable runner and its reports (docs/experiments.md). */
export * from './spec.js';
export * from './arms.js';
export { itemSeed, renderPrompt, routingShare, type PreparedItem, type WorkItem } from './tasks.js';
export * from './runner.js';
export * from './export.js';
export * from './report.js';
