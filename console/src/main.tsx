// The console's shell: sign-in, the navigation for operators and key holders, and the pages.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, errorText, rememberCsrf, type Session } from './api.js';
import { AccountPage } from './pages/account.js';
import { AuditPage } from './pages/audit.js';
import { ChannelsPage } from './pages/channels.js';
import { GalleryPage } from './pages/gallery.js';
import { KeysPage } from './pages/keys.js';
import { LogsPage } from './pages/logs.js';
import { ModelsPage } from './pages/models.js';
import { OverviewPage } from './pages/overview.js';
import { PlaygroundPage } from './pages/playground.js';
import { SignInPage } from './pages/sign-in.js';
import { TasksPage } from './pages/tasks.js';
import './style.css';

interface Page {
  path: string;
  title: string;
  render: (session: Session) => preact.JSX.Element;
  roles: Array<Session['role']>;
}

const pages: Page[] = [
  { path: '', title: 'Overview', render: (session) => <OverviewPage session={session} />, roles: ['operator', 'key'] },
  { path: 'keys', title: 'Keys', render: () => <KeysPage />, roles: ['operator'] },
  { path: 'account', title: 'My key', render: (session) => <AccountPage session={session} />, roles: ['key'] },
  { path: 'channels', title: 'Channels', render: () => <ChannelsPage />, roles: ['operator'] },
  { path: 'models', title: 'Models & prices', render: () => <ModelsPage />, roles: ['operator'] },
  { path: 'logs', title: 'Request log', render: (session) => <LogsPage session={session} />, roles: ['operator', 'key'] },
  { path: 'tasks', title: 'Tasks', render: (session) => <TasksPage session={session} />, roles: ['operator', 'key'] },
  { path: 'gallery', title: 'Gallery', render: (session) => <GalleryPage session={session} />, roles: ['operator', 'key'] },
  { path: 'playground', title: 'Playground', render: (session) => <PlaygroundPage session={session} />, roles: ['operator', 'key'] },
  { path: 'audit', title: 'Audit log', render: () => <AuditPage />, roles: ['operator'] },
];

const currentPath = () => location.pathname.replace(/^\/console\/?/, '').replace(/\/$/, '');

export function navigate(path: string): void {
  history.pushState(null, '', `/console/${path}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [path, setPath] = useState(currentPath());
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    const onPop = () => setPath(currentPath());
    addEventListener('popstate', onPop);
    api<Session>('/session')
      .then((found) => {
        rememberCsrf(found.csrf_token);
        setSession(found);
      })
      .catch((failure: unknown) => {
        if (!(failure instanceof ApiError && (failure.status === 401 || failure.status === 403))) setError(errorText(failure));
        setSession(null);
      });
    return () => removeEventListener('popstate', onPop);
  }, []);

  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null)
    return (
      <SignInPage
        error={error}
        onSignedIn={(signedIn) => {
          rememberCsrf(signedIn.csrf_token);
          setSession(signedIn);
        }}
      />
    );

  const visible = pages.filter((page) => page.roles.includes(session.role));
  const page = visible.find((candidate) => candidate.path === path) ?? visible[0];
  const signOut = async () => {
    await api('/session', { method: 'DELETE' }).catch(() => undefined);
    rememberCsrf(null);
    setSession(null);
  };
  return (
    <div class="shell">
      <header>
        <span class="brand">imagegate</span>
        <span class="who">{session.role === 'operator' ? 'Operator' : `Key ${session.key_id}`}</span>
        <button type="button" class="link" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <nav aria-label="Console">
        <ul>
          {visible.map((item) => (
            <li key={item.path}>
              <a
                href={`/console/${item.path}`}
                aria-current={item === page ? 'page' : undefined}
                onClick={(event) => {
                  event.preventDefault();
                  navigate(item.path);
                }}
              >
                {item.title}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main>
        <h1>{page?.title}</h1>
        {page?.render(session)}
      </main>
    </div>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
