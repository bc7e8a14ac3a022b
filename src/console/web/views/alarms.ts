import { heading } from '../dom.js';
import type { ConsoleView } from '../view.js';

export const alarmsView: ConsoleView = {
  id: 'alarms',
  title: 'Alarms',
  roles: ['security-admin', 'auditor'],
  async render(root) {
    root.append(heading('Alarms'));
  },
};
