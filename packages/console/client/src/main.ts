// The console's browser code: one page app over the console's HTTP API (see ../../API.md).
// Routing is on `location.pathname`; live updates come from `/api/stream`; when the store goes
// away a banner says so and every page keeps what is on screen and what the user typed.
import { Api, type Session } from './api.js';
import { h, replace } from './dom.js';
import type { Context, Page, PageFactory } from './page.js';
import { accountPage } from './pages/account.js';
import { alertsPage } from './pages/alerts.js';
import { approvalsPage } from './pages/approvals.js';
import { auditPage } from './pages/audit.js';
import { findingsPage } from './pages/findings.js';
import { inventoryPage } from './pages/inventory.js';
import { loginPage } from './pages/login.js';
import { overviewPage } from './pages/overview.js';
import { policyPage } from './pages/policy.js';

interface Route {
  path: string;
  title: string;
  page: PageFactory;
  /** Shown in the sidebar. */
  nav: boolean;
}

const ROUTES: readonly Route[] = [
  { path: '/overview', title: 'Overview', page: overviewPage, nav: true },
  { path: '/inventory', title: 'Inventory', page: inventoryPage, nav: true },
  { path: '/approvals', title: 'Approvals', page: approvalsPage, nav: true },
  { path: '/audit', title: 'Audit', page: auditPage, nav: true },
  { path: '/alerts', title: 'Alerts', page: alertsPage, nav: true },
  { path: '/findings', title: 'Findings', page: findingsPage, nav: true },
  { path: '/policy', title: 'Policy', page: policyPage, nav: true },
  { path: '/account', title: 'Account', page: accountPage, nav: false },
];

const HEALTH_RETRY_MS = 2000;

class Console {
  private session: Session | undefined;
  private page: Page | undefined;
  private stream: EventSource | undefined;
  private healthTimer: number | undefined;
  private readonly root: HTMLElement;
  private readonly banner = h('div', { class: 'banner', role: 'alert', hidden: true });
  private readonly live = h('span', { class: 'live off' }, 'offline');
  private readonly pendingBadge = h('span', { class: 'badge', hidden: true });
  private readonly api: Api;

  constructor(root: HTMLElement) {
    this.root = root;
    this.api = new Api({
      onSessionExpired: () => this.expired(),
      onUnavailable: (message) => this.unavailable(message),
      onAvailable: () => this.available(),
    });
    window.addEventListener('popstate', () => this.render());
    // Same-origin links inside the app navigate without a reload.
    document.addEventListener('click', (event) => {
      const link = (event.target as Element | null)?.closest?.('a[href^="/"]');
      if (
        !link ||
        event.defaultPrevented ||
        event.button !== 0 ||
        event.metaKey ||
        event.ctrlKey ||
        event.shiftKey
      )
        return;
      event.preventDefault();
      this.navigate(link.getAttribute('href')!);
    });
  }

  async start(): Promise<void> {
    try {
      this.session = await this.api.get<Session>('/api/session');
      this.api.setCsrf(this.session.csrf);
    } catch {
      this.session = undefined;
    }
    this.render();
  }

  navigate(path: string): void {
    if (path !== location.pathname + location.search) history.pushState(null, '', path);
    this.render();
  }

  private render(): void {
    if (!this.session) {
      this.showLogin();
      return;
    }
    if (location.pathname === '/' || location.pathname === '/login') {
      const next = new URLSearchParams(location.search).get('next');
      history.replaceState(null, '', next?.startsWith('/') && !next.startsWith('//') ? next : '/overview');
    }
    // `/approvals/<id>` and `/audit/<seq>` are deep links into their page.
    const first = `/${location.pathname.split('/')[1] ?? ''}`;
    const route = ROUTES.find((candidate) => candidate.path === first);
    const context: Context = {
      api: this.api,
      session: this.session,
      navigate: (path) => this.navigate(path),
      hasRole: (role) => this.session?.roles.includes(role) ?? false,
    };
    const main = h('main', { class: 'content', id: 'page' });
    const title = route?.title ?? 'Not found';
    document.title = `${title} · Posture`;
    replace(
      this.root,
      h(
        'div',
        { class: 'app', data: { page: route ? route.path.slice(1) : 'not-found' } },
        this.sidebar(route),
        h(
          'div',
          { class: 'main' },
          this.banner,
          h('header', { class: 'topbar' }, h('h1', null, title), this.live),
          main,
        ),
      ),
    );
    if (!route) {
      this.page = undefined;
      main.append(h('p', null, 'no page here: pick one on the left'));
      return;
    }
    this.page = route.page(context);
    main.append(this.page.element);
    void this.page.refresh().then(() => this.root.querySelector('.app')?.setAttribute('data-loaded', 'true'));
    this.connect();
  }

  private sidebar(current: Route | undefined): HTMLElement {
    const session = this.session!;
    return h(
      'aside',
      { class: 'sidebar' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, 'P'), 'Posture'),
      h(
        'nav',
        { 'aria-label': 'pages' },
        h(
          'ul',
          null,
          ROUTES.filter((route) => route.nav).map((route) =>
            h(
              'li',
              null,
              h(
                'a',
                {
                  href: route.path,
                  class: route === current ? 'active' : undefined,
                  'aria-current': route === current ? 'page' : undefined,
                },
                route.title,
                route.path === '/approvals' ? this.pendingBadge : null,
              ),
            ),
          ),
        ),
      ),
      h(
        'div',
        { class: 'sidebar-foot' },
        h(
          'a',
          { href: '/account', class: current?.path === '/account' ? 'user active' : 'user' },
          session.user,
        ),
        h('div', { class: 'roles muted' }, session.roles.join(', ')),
        h('button', { type: 'button', class: 'link', on: { click: () => void this.logout() } }, 'Sign out'),
      ),
    );
  }

  private showLogin(notice?: string): void {
    this.disconnect();
    this.page = undefined;
    document.title = 'Sign in · Posture';
    if (location.pathname !== '/login') {
      const here = location.pathname + location.search;
      const next = here === '/' || here.startsWith('/login') ? '' : `?next=${encodeURIComponent(here)}`;
      history.replaceState(null, '', `/login${next}`);
    }
    replace(
      this.root,
      loginPage(
        this.api,
        (session) => {
          this.session = session;
          this.api.setCsrf(session.csrf);
          this.render();
        },
        notice,
      ),
    );
  }

  private expired(): void {
    if (!this.session) return;
    this.session = undefined;
    this.showLogin('your session expired: sign in again');
  }

  private async logout(): Promise<void> {
    await this.api.post('/api/logout').catch(() => undefined);
    this.session = undefined;
    this.showLogin('signed out');
  }

  /** Live updates: the server says when the log or the queue changed; the page re-reads. */
  private connect(): void {
    if (this.stream) return;
    const stream = new EventSource('/api/stream');
    this.stream = stream;
    stream.addEventListener('open', () => this.setLive(true));
    stream.addEventListener('change', (event) => {
      this.setLive(true);
      this.available();
      try {
        const change = JSON.parse((event as MessageEvent<string>).data) as { pending_approvals?: number };
        if (typeof change.pending_approvals === 'number') this.setPending(change.pending_approvals);
      } catch {
        // a change we cannot read still means: re-read the page
      }
      void this.page?.refresh();
    });
    stream.addEventListener('expired', () => this.expired());
    stream.addEventListener('unavailable', () => this.unavailable('the evidence store is unavailable'));
    stream.addEventListener('error', () => {
      this.setLive(false);
      // A closed stream (401, 503) does not retry by itself: ask why, and reconnect if it is just the network.
      if (stream.readyState === EventSource.CLOSED) {
        this.stream = undefined;
        void this.api
          .get('/api/session')
          .then(() => window.setTimeout(() => this.session && this.connect(), HEALTH_RETRY_MS))
          .catch(() => undefined);
      }
    });
  }

  private disconnect(): void {
    this.stream?.close();
    this.stream = undefined;
    this.setLive(false);
  }

  private setLive(on: boolean): void {
    this.live.className = on ? 'live on' : 'live off';
    this.live.textContent = on ? 'live' : 'offline';
  }

  private setPending(count: number): void {
    this.pendingBadge.hidden = count === 0;
    this.pendingBadge.textContent = String(count);
  }

  private unavailable(message: string): void {
    this.banner.hidden = false;
    replace(
      this.banner,
      h('strong', null, 'Evidence store unavailable. '),
      `${message}. What you typed is kept; the console retries and refreshes when the store is back.`,
    );
    if (this.healthTimer === undefined) {
      this.healthTimer = window.setInterval(
        () => void this.api.get('/api/health').catch(() => undefined),
        HEALTH_RETRY_MS,
      );
    }
  }

  private available(): void {
    if (this.banner.hidden) return;
    this.banner.hidden = true;
    window.clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    void this.page?.refresh();
  }
}

const root = document.getElementById('app') ?? document.body;
void new Console(root).start().then(() => {
  document.documentElement.dataset.ready = 'true';
});
