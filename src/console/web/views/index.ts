import type { ConsoleView } from '../view.js';
import { alarmsView } from './alarms.js';
import { auditView } from './audit.js';
import { meView } from './me.js';
import { overviewView } from './overview.js';
import { policyView } from './policy.js';
import { privacyView } from './privacy.js';
import { programView } from './program.js';
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
  programView,
  privacyView,
  meView,
];
