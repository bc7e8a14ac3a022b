import { heading } from '../dom.js';
import type { ConsoleView } from '../view.js';

export const verifyView: ConsoleView = {
  id: 'verify',
  title: 'Chain verification',
  roles: ['auditor'],
  async render(root) {
    root.append(heading('Chain verification'));
  },
};
