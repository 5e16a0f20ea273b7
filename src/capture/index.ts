export type { CaptureBackend, CaptureModel, EncodedPrompt, RoutedSequence, RouteOptions } from './backend.js';
export { startCapture, resumeCapture, findUnfinishedRun, CaptureError, type CaptureProgress, type CaptureResult, type StartCaptureOptions, type ResumeCaptureOptions } from './job.js';
