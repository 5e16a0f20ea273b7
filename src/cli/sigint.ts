/**
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP abort the signal once (the job discards the batch in flight and marks the run
 * cancelled); a second one exits at once, which is still safe because every committed batch is durable.
 */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let cancelling = false;

/** Whether a first signal already asked the running job to cancel (it is finishing its batch and recording it). */
export function cancelRequested(): boolean {
  return cancelling;
}

export function cancelOnSigint(onFirst: (signal: NodeJS.Signals) => void): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      process.stderr.write('\nstopping now\n');
      process.exit(130);
    }
    cancelling = true;
    onFirst(sig);
    ac.abort(new DOMException(sig === 'SIGINT' ? 'cancelled by Ctrl-C' : `cancelled by ${sig}`, 'AbortError'));
  };
  for (const s of SIGNALS) process.on(s, handler);
  return {
    signal: ac.signal,
    dispose: () => {
      SIGNALS.forEach((s) => process.off(s, handler));
      cancelling = false;
    },
  };
}
