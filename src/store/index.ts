export { Store, useStore, APPLICATION_ID, type OpenOptions } from './db.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { loadMigrations, latestSchemaVersion, migrationsDir } from './migrations.js';
export {
  createRun, getRun, listRuns, setRunStatus, deleteRun, ensureProject, ensureModel, ensureDataset,
  type ModelInfo, type DatasetInfo, type NewRun, type RunRecord, type RunStatus, type RunSource,
} from './entities.js';
export { writeBatch, iterateSequences, storedKeys, sequenceKey, decodeGates, type TraceSequence, type StoredSequence, type BatchResult } from './traces.js';
export { loadRunRouting, type LoadRoutingOptions, type TokenScope } from './routing.js';
export {
  parseRecorderJson, recorderJsonOf, findRecorderFiles, loadRecorderFolder, importRoutingData, importRecorderFolder,
  exportRecorderFolder, type RecorderReadOptions,
} from './recorder.js';
export { exportRunFile, importRunFile, RUN_FILE_FORMAT, RUN_FILE_VERSION } from './runfile.js';
export { modelFingerprint } from './fingerprint.js';
export { insertJob, updateJob, listJobs, getJob, renameRun, type JobRecord, type JobRecordStatus } from './jobs.js';
