// The console's HTTP API as the browser calls it (contract: packages/console/API.md). Every
// failure is a value the caller can show: an `ApiError` with the server's stable code.

export interface Session {
  user: string;
  roles: string[];
  csrf: string;
  factors: { totp: boolean; webauthn: boolean };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Codes the whole app reacts to, whatever page made the call. */
export interface ApiHooks {
  /** The session expired or is unknown: back to the login page. */
  onSessionExpired(): void;
  /** The store (or the console itself) is unreachable: show the banner, keep the page as it is. */
  onUnavailable(message: string): void;
  /** A call went through: the store is back. */
  onAvailable(): void;
}

export class Api {
  private csrf = '';

  constructor(private readonly hooks: ApiHooks) {}

  setCsrf(token: string): void {
    this.csrf = token;
  }

  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') params.set(key, String(value));
    }
    const search = params.toString();
    return this.call<T>('GET', search ? `${path}?${search}` : path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body ?? {});
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrf) headers['x-csrf-token'] = this.csrf;
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch {
      const message = 'the console server cannot be reached';
      this.hooks.onUnavailable(message);
      throw new ApiError(0, 'unreachable', message);
    }
    const payload: unknown = await response.json().catch(() => undefined);
    if (response.ok) {
      this.hooks.onAvailable();
      return payload as T;
    }
    const error = errorOf(payload, response.status);
    if (error.code === 'session_expired' || (response.status === 401 && path !== '/api/login')) {
      this.hooks.onSessionExpired();
    } else if (error.code === 'store_unavailable' || response.status === 503) {
      this.hooks.onUnavailable(error.message);
    } else {
      this.hooks.onAvailable();
    }
    throw error;
  }
}

function errorOf(payload: unknown, status: number): ApiError {
  if (typeof payload === 'object' && payload !== null && 'error' in payload) {
    const error = (payload as { error: unknown }).error;
    if (typeof error === 'object' && error !== null) {
      const { code, message } = error as { code?: unknown; message?: unknown };
      return new ApiError(
        status,
        typeof code === 'string' ? code : `http_${status}`,
        typeof message === 'string' ? message : `the console answered ${status}`,
      );
    }
  }
  return new ApiError(status, `http_${status}`, `the console answered ${status}`);
}
