import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_CHANNEL, EVENT_CHANNEL, PICK_FOLDER_CHANNEL, type ApiArgs, type ApiEvent, type ApiMethod, type ApiResult } from '../api/contract.js';
import { ApiError, type ApiReply } from '../api/errors.js';

// A narrow bridge: the renderer can only call contract methods and listen to contract events, never raw ipcRenderer.
const api = {
  async call<M extends ApiMethod>(method: M, args: ApiArgs<M>): Promise<ApiResult<M>> {
    const reply = (await ipcRenderer.invoke(API_CHANNEL, method, args)) as ApiReply<ApiResult<M>>;
    if (!reply.ok) throw ApiError.fromJSON(reply.error);
    return reply.result;
  },
  /**
   * The reply as JSON ({ok, result} or {ok: false, error}). An error thrown across the context bridge keeps only its
   * message, so the renderer rebuilds the error from this to see the back end's code and details (a lock, a deleted
   * project).
   */
  async reply<M extends ApiMethod>(method: M, args: ApiArgs<M>): Promise<ApiReply<ApiResult<M>>> {
    return (await ipcRenderer.invoke(API_CHANNEL, method, args)) as ApiReply<ApiResult<M>>;
  },
  /** The native folder picker (Models view); null when cancelled. */
  async pickFolder(): Promise<string | null> {
    const picked: unknown = await ipcRenderer.invoke(PICK_FOLDER_CHANNEL);
    return typeof picked === 'string' ? picked : null;
  },
  /** Subscribes to back-end events; returns the function that unsubscribes. */
  onEvent(listener: (event: ApiEvent) => void): () => void {
    const wrapped = (_e: IpcRendererEvent, event: ApiEvent) => listener(event);
    ipcRenderer.on(EVENT_CHANNEL, wrapped);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('routescope', api);
export type PreloadApi = typeof api;
