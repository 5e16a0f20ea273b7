import { Store, StoreError } from '../store/index.js';
import { CliError } from './errors.js';

/**
 * Opens a database for a command that only reads: read-only (so it works on a read-only file or folder and can
 * never modify it), with a quick check whose findings are printed as a warning first, since the command's own
 * queries may never touch a damaged page.
 */
export function openForReading(file: string, command: string): Store {
  let store: Store;
  try {
    store = Store.open(file, { readonly: true, quickCheck: true });
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(err.message);
    throw err;
  }
  warnIfDamaged(store, command);
  return store;
}

export function damageWarning(store: Store): string | null {
  if (store.damage.length === 0) return null;
  const shown = store.damage.slice(0, 3).join('; ');
  return `${store.file} is damaged (PRAGMA quick_check: ${shown}${store.damage.length > 3 ? `; and ${store.damage.length - 3} more` : ''}); results may be incomplete or wrong. Restore it from a backup, or export what still reads ('routescope export') and import it into a new file`;
}

function warnIfDamaged(store: Store, command: string): void {
  const msg = damageWarning(store);
  if (msg) process.stderr.write(`routescope ${command}: warning: ${msg}\n`);
}
