import { heading } from '../dom.js';
import type { ConsoleView } from '../view.js';

export const overviewView: ConsoleView = {
  id: 'overview',
  title: 'Overview',
  roles: ['auditor', 'security-admin'],
  async render(root) {
    root.append(heading('Overview'));
  },
};
