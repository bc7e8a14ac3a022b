import type { Api } from './api.js';

/** Who is signed in, as the token's payload says (the server verifies the token on every call). */
export interface Session {
  readonly token: string;
  readonly sub: string;
  readonly roles: readonly string[];
  readonly teams: readonly string[];
}

/** One screen of the console; the shell lists it only for `roles`, and refuses to open it otherwise. */
export interface ConsoleView {
  readonly id: string;
  readonly title: string;
  readonly roles: readonly string[];
  render(root: HTMLElement, api: Api, session: Session): Promise<void>;
}

/** Whether a session may open a view: any one of the view's roles. */
export function permits(view: ConsoleView, session: Session): boolean {
  return view.roles.some((r) => session.roles.includes(r));
}
