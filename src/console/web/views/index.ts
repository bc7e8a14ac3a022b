import type { ConsoleView } from '../view.js';
import { alarmsView } from './alarms.js';
import { auditView } from './audit.js';
import { overviewView } from './overview.js';
import { policyView } from './policy.js';
import { reportView } from './report.js';
import { verifyView } from './verify.js';

/** Every view, in menu order; the shell shows only those the session's roles permit. */
export const views: readonly ConsoleView[] = [
  overviewView,
  auditView,
  verifyView,
  reportView,
  policyView,
  alarmsView,
];
