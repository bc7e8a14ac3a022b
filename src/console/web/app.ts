import { Api, ApiError } from './api.js';
import { clear, el, heading, showError } from './dom.js';
import { decodeSession, forgetSession, loadSession, saveSession, TokenError } from './session.js';
import { permits, type Session } from './view.js';
import { views } from './views/index.js';

const MINT_ROLES = ['auditor', 'security-admin', 'privacy-officer', 'employee', 'training-job', 'ingest-agent'];

interface ConsoleConfig {
  environment: string;
  dev_token: boolean;
}

let session: Session | undefined = loadSession();
// A render that started before a later navigation must not draw over the newer view.
let generation = 0;

function main(): HTMLElement {
  const m = document.getElementById('view');
  if (!m) throw new Error('index.html lacks main#view');
  return m;
}

function routeId(): string {
  const h = location.hash.replace(/^#\/?/, '');
  return h.split(/[?/]/)[0] ?? '';
}

function go(id: string): void {
  const target = `#/${id}`;
  if (location.hash === target) void render();
  else location.hash = target;
}

function renderChrome(active: string): void {
  const whoami = document.getElementById('whoami');
  const signOut = document.getElementById('sign-out');
  const nav = document.getElementById('views');
  if (!whoami || !signOut || !nav) return;
  clear(whoami);
  clear(nav);
  if (!session) {
    signOut.hidden = true;
    return;
  }
  signOut.hidden = false;
  whoami.append(el('span', { class: 'sub' }, session.sub), ' ', ...session.roles.map((r) => el('span', { class: 'role' }, r)));
  for (const v of views) {
    if (!permits(v, session)) continue;
    nav.appendChild(el('a', { href: `#/${v.id}`, 'data-view': v.id, class: v.id === active ? 'active' : undefined, 'aria-current': v.id === active ? 'page' : undefined }, v.title));
  }
}

function signIn(token: string, root: HTMLElement): void {
  try {
    session = decodeSession(token);
  } catch (err) {
    showError(root, err instanceof TokenError ? new ApiError(0, err.code, err.message) : err);
    return;
  }
  saveSession(session);
  const first = views.find((v) => session && permits(v, session));
  go(first ? first.id : 'sign-in');
}

async function renderSignIn(root: HTMLElement): Promise<void> {
  const token = el('textarea', { id: 'token', name: 'token', rows: 6, spellcheck: 'false', autocomplete: 'off', placeholder: 'eyJhbGciOi…' });
  const form = el(
    'form',
    { class: 'card', onsubmit: (ev: Event) => { ev.preventDefault(); signIn(token.value, root); } },
    el('label', { for: 'token' }, 'Bearer token'),
    token,
    el('p', { class: 'muted' }, 'The token stays in this tab only and is forgotten when you sign out or close it.'),
    el('button', { id: 'sign-in', type: 'submit', class: 'primary' }, 'Sign in'),
  );
  root.append(heading('Sign in', 'Paste a bearer token issued for your role.'), form);

  let config: ConsoleConfig | undefined;
  try {
    config = await new Api('').get<ConsoleConfig>('/console/config');
  } catch {
    config = undefined;
  }
  if (!config?.dev_token) return;
  const role = el('select', { id: 'mint-role', name: 'role' }, ...MINT_ROLES.map((r) => el('option', { value: r }, r)));
  const sub = el('input', { id: 'mint-sub', name: 'sub', type: 'text', required: true, value: 'console-user', autocomplete: 'off' });
  const teams = el('input', { id: 'mint-teams', name: 'teams', type: 'text', placeholder: 'team-a, team-b', autocomplete: 'off' });
  const purpose = el('input', { id: 'mint-purpose', name: 'purpose', type: 'text', placeholder: 'for training-job', autocomplete: 'off' });
  const mint = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    const teamList = teams.value.split(',').map((t) => t.trim()).filter(Boolean);
    try {
      const res = await new Api('').send<{ token: string }>('POST', '/console/dev-token', {
        role: role.value,
        sub: sub.value.trim(),
        ...(teamList.length ? { teams: teamList } : {}),
        ...(purpose.value.trim() ? { purpose: purpose.value.trim() } : {}),
      });
      token.value = res.token;
      signIn(res.token, root);
    } catch (err) {
      showError(root, err);
    }
  };
  root.append(
    el(
      'form',
      { id: 'dev-mint', class: 'card dev', onsubmit: mint },
      el('h2', {}, 'Development: mint a token'),
      el('p', { class: 'muted' }, `This vault runs in ${config.environment}; it signs with its development key. Production vaults do not offer this.`),
      el('div', { class: 'grid' }, el('label', {}, 'Role', role), el('label', {}, 'Subject (sub)', sub), el('label', {}, 'Teams', teams), el('label', {}, 'Purpose', purpose)),
      el('button', { id: 'mint', type: 'submit' }, 'Mint and sign in'),
    ),
  );
}

async function render(): Promise<void> {
  const mine = ++generation;
  const root = main();
  const id = routeId();
  clear(root);
  root.removeAttribute('data-view');
  if (!session || id === 'sign-in' || id === '') {
    if (session && id === '') {
      const first = views.find((v) => session && permits(v, session));
      if (first) return go(first.id);
    }
    renderChrome('sign-in');
    root.setAttribute('data-view', 'sign-in');
    if (id !== 'sign-in' && id !== '') history.replaceState(null, '', '#/sign-in');
    return renderSignIn(root);
  }
  renderChrome(id);
  const view = views.find((v) => v.id === id);
  if (!view || !permits(view, session)) {
    // Decided from the token's roles alone: no request leaves the tab for a view the roles cannot use.
    root.append(
      el(
        'section',
        { 'data-testid': 'forbidden', class: 'card forbidden' },
        el('h1', {}, view ? 'Not for your role' : 'No such view'),
        el('p', {}, view ? `“${view.title}” needs one of: ${view.roles.join(', ')}. You are signed in as ${session.roles.join(', ') || 'no role'}.` : `There is no view “${id}”.`),
      ),
    );
    return;
  }
  const viewRoot = el('section', { 'data-view': view.id, class: 'view' });
  root.appendChild(viewRoot);
  document.title = `${view.title} · activity-vault`;
  try {
    await view.render(viewRoot, new Api(session.token), session);
  } catch (err) {
    if (mine === generation) showError(viewRoot, err);
  }
}

document.getElementById('sign-out')?.addEventListener('click', () => {
  forgetSession();
  session = undefined;
  go('sign-in');
});
window.addEventListener('hashchange', () => void render());
void render();
