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
export {
  modelFingerprint, fingerprintModel, legacyModelFingerprint, describeModelChanges, FINGERPRINT_VERSION,
  type FingerprintDetail, type FileDigest, type ModelFingerprint, type FingerprintOptions,
} from './fingerprint.js';
export { runCoverage, describeIncomplete, type RunCoverage } from './coverage.js';
export { markWorking, processIdentity, workerState, type WorkerInfo, type WorkerState } from './worker.js';
export {
  createExperiment, getExperiment, listExperiments, experimentArms, setExperimentStatus, claimExperiment, experimentWorkerAlive, resultKey,
  storedResultKeys, writeResults, experimentResults, renameExperiment, deleteExperiment,
  type NewExperiment, type ExperimentArmRecord, type ExperimentRecord, type ExperimentResult, type ExperimentStatus,
} from './experiments.js';
export { insertJob, updateJob, listJobs, getJob, renameRun, type JobRecord, type JobRecordStatus } from './jobs.js';
export { readAnalysisSettings, writeAnalysisSettings } from './analysis-settings.js';
export { insertPlan, listPlans, getPlan, renamePlan, deletePlan, type PlanRecord } from './plans.js';
export { readDerived, writeDerived, type DerivedOwner, type DerivedRead } from './derived.js';
export { encodeValue, decodeValue } from './value-codec.js';
