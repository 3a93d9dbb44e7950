import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { ApiError, get, post, setCsrfToken, whenLoggedOut } from './api.js';
import { AuditPage } from './pages/audit_page.js';
import { DevicePage } from './pages/device_page.js';
import { LivePage } from './pages/live_page.js';
import { LoginPage } from './pages/login_page.js';
import { OverviewPage } from './pages/overview_page.js';
import { TokensPage } from './pages/tokens_page.js';

interface Session {
  operator: string;
  csrfToken: string;
}

/** The page named by the address's fragment: #/, #/device/<name>, #/tokens, #/live, #/audit. */
function currentRoute(): string {
  return location.hash.replace(/^#/, '') || '/';
}

function useRoute(): string {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function Page({ route }: { route: string }) {
  const device = /^\/device\/(.+)$/.exec(route);
  if (device) return html`<${DevicePage} name=${decodeURIComponent(device[1]!)} />`;
  switch (route) {
    case '/tokens': return html`<${TokensPage} />`;
    case '/live': return html`<${LivePage} />`;
    case '/audit': return html`<${AuditPage} />`;
    default: return html`<${OverviewPage} />`;
  }
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    whenLoggedOut(() => setSession(null));
    get<Session>('/session').then((s) => {
      setCsrfToken(s.csrfToken);
      setSession(s);
    }, (error: unknown) => {
      if (!(error instanceof ApiError) || error.status !== 401) console.error(error);
      setSession(null);
    });
  }, []);
  if (session === undefined) return html`<p class="loading">Loading…</p>`;
  if (session === null) {
    return html`<${LoginPage} onLogin=${(s: Session) => {
      setCsrfToken(s.csrfToken);
      setSession(s);
    }} />`;
  }
  const link = (href: string, label: string, active: boolean) =>
    html`<a href=${href} class=${active ? 'active' : ''}>${label}</a>`;
  const logout = () => post('/logout').finally(() => setSession(null));
  return html`
    <header>
      <span class="brand">x3dh-iot console</span>
      <nav>
        ${link('#/', 'Fleet', route === '/' || route.startsWith('/device/'))}
        ${link('#/tokens', 'Enrolment tokens', route === '/tokens')}
        ${link('#/live', 'Live', route === '/live')}
        ${link('#/audit', 'Audit log', route === '/audit')}
      </nav>
      <span class="operator">${session.operator} <button class="link" onClick=${logout}>Log out</button></span>
    </header>
    <main><${Page} route=${route} /></main>`;
}

render(html`<${App} />`, document.getElementById('app')!);
