import { heading } from '../dom.js';
import type { ConsoleView } from '../view.js';

export const auditView: ConsoleView = {
  id: 'audit',
  title: 'Audit log',
  roles: ['auditor'],
  async render(root) {
    root.append(heading('Audit log'));
  },
};
