import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, session, type IpcMainInvokeEvent, type WebContents } from 'electron';
import { API_CHANNEL, EVENT_CHANNEL, PICK_FOLDER_CHANNEL, isApiMethod, type ApiEvent } from '../api/contract.js';
import { ApiError, type ApiReply } from '../api/errors.js';
import { EngineHost } from './engine-host.js';

const here = dirname(fileURLToPath(import.meta.url));
const RENDERER_FILE = join(here, '../renderer/index.html');
/** electron-vite's dev server in `npm run dev`; unset in a built app. */
const DEV_URL = process.env.ELECTRON_RENDERER_URL;

/** The one page this app shows: the built renderer file, or the dev server during development. */
function isAppUrl(url: string): boolean {
  if (DEV_URL) return url === DEV_URL || url.startsWith(DEV_URL.endsWith('/') ? DEV_URL : `${DEV_URL}/`);
  try {
    const u = new URL(url);
    return u.protocol === 'file:' && u.pathname === pathToFileURL(RENDERER_FILE).pathname;
  } catch {
    return false;
  }
}

// Electron's security checklist: isolation and sandbox on, no Node in the renderer, a CSP (meta tag in
// index.html for the file:// page), no navigation, new windows or webviews, no permission grants, and every IPC
// message checked for its sender (the main frame of one of our windows, showing our page) and its method name.
function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    show: false,
    title: 'Routescope',
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  if (DEV_URL) void win.loadURL(DEV_URL);
  else void win.loadFile(RENDERER_FILE);
  return win;
}

function lockDown(contents: WebContents): void {
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

/** Only the main frame of one of our windows, showing our page, may call the API. */
function trustedSender(event: IpcMainInvokeEvent): boolean {
  const frame = event.senderFrame;
  const main = event.sender.mainFrame;
  if (!frame || frame.processId !== main.processId || frame.routingId !== main.routingId) return false;
  if (!BrowserWindow.fromWebContents(event.sender)) return false;
  return isAppUrl(frame.url);
}

app.on('web-contents-created', (_event, contents) => lockDown(contents));

void app.whenReady().then(() => {
  // The app needs no camera, microphone, notifications or other permission.
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);

  // Progress events go to every window; each window's renderer filters by job id.
  const forward = (event: ApiEvent) => {
    for (const w of BrowserWindow.getAllWindows()) if (!w.isDestroyed()) w.webContents.send(EVENT_CHANNEL, event);
  };
  // ROUTESCOPE_DATA_DIR lets tests (and users who want the CLI's folder) point the app at another data folder.
  const dataDir = process.env.ROUTESCOPE_DATA_DIR || join(app.getPath('userData'), 'data');
  const engine = new EngineHost(join(here, 'engine-process.js'), dataDir, forward);
  // Arguments are checked against the contract's schemas by dispatch in the utility process; here only the sender and
  // the method name, so nothing else reaches it.
  ipcMain.handle(API_CHANNEL, async (event, method: unknown, args: unknown): Promise<ApiReply> => {
    if (!trustedSender(event)) return { ok: false, error: new ApiError('forbidden', 'IPC from an unexpected frame or page was refused').toJSON() };
    if (!isApiMethod(method)) return { ok: false, error: new ApiError('not-found', `unknown API method ${String(method)}`).toJSON() };
    return engine.call(method, args);
  });
  // The folder picker takes no argument from the renderer; only the chosen path goes back.
  ipcMain.handle(PICK_FOLDER_CHANNEL, async (event): Promise<string | null> => {
    const win = BrowserWindow.fromWebContents(event.sender);
    if (!trustedSender(event) || !win) return null;
    const r = await dialog.showOpenDialog(win, { title: 'Add a model folder', properties: ['openDirectory'] });
    return r.canceled ? null : (r.filePaths[0] ?? null);
  });
  createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  app.on('before-quit', () => engine.dispose());
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
