import { heading } from '../dom.js';
import type { ConsoleView } from '../view.js';

export const policyView: ConsoleView = {
  id: 'policy',
  title: 'Policy revisions',
  roles: ['security-admin', 'auditor'],
  async render(root) {
    root.append(heading('Policy revisions'));
  },
};
