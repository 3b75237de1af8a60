// What every page is: an element mounted once, and a refresh that re-reads its data and redraws
// only the parts that show data, so forms keep what the user typed (live updates, store outages).
import type { Api, Session } from './api.js';
import { ApiError } from './api.js';
import { h } from './dom.js';

export interface Context {
  api: Api;
  session: Session;
  navigate(path: string): void;
  hasRole(role: 'viewer' | 'approver' | 'admin'): boolean;
}

export interface Page {
  element: HTMLElement;
  refresh(): Promise<void>;
}

export type PageFactory = (context: Context) => Page;

/** Runs `load` one at a time: a refresh asked for while one runs runs once after it. */
export function serialized(load: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await load();
      } while (again);
    })();
    try {
      await running;
    } finally {
      running = undefined;
    }
  };
  return run;
}

/** A refresh that keeps what is shown when the API fails (the banner says why). */
export function keepOnError(
  load: () => Promise<void>,
  onError?: (error: ApiError) => void,
): () => Promise<void> {
  return serialized(async () => {
    try {
      await load();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      onError?.(error);
    }
  });
}

export function section(title: string, ...children: Array<Node | null>): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', null, title), children);
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
