import { none } from '../schema.js';

export interface AppInfo {
  name: string;
  version: string;
  /** Which onnxruntime execution provider the engine would use on this machine, and why. */
  executionProvider: { name: string; reason: string };
  transport: 'ipc' | 'http';
  /** Folder holding the workbench's projects. */
  dataDir: string;
}

export const appArgs = { 'app.info': none };
