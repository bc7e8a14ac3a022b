import { keysUsedBy, readScopePage, type EmployeeKeyState, type LeaseRow, type LeaseShard } from '../db/index.js';
import { PAGE, WORKER_PAGE, type DatasetDeps } from './deps.js';
import { datasetLines, type LineKeys } from './lines.js';
import { encodePage, keysOfPage, type EncodedPage, type KeyUse, type PagePosition } from './page.js';

/** One page as read, before its keys are looked up in the page's transaction. */
export interface ReadPage {
  readonly count: number;
  /** The org unit has no more records after this page. */
  readonly endsUnit: boolean;
  readonly last: PagePosition | undefined;
  readonly used: readonly KeyUse[];
  /** Opens and writes the page under the keys `states` names. */
  encode(states: ReadonlyMap<string, EmployeeKeyState>): Promise<EncodedPage>;
  /** Forgets a page that will not be sent. */
  drop(): void;
}

/** Where a stream's pages are read and opened: in this thread, or in a page worker. */
export interface PageSource {
  read(unit: number, after: PagePosition | undefined): Promise<ReadPage>;
  close(): void;
}

/** The part of a lease one stream sends: a shard's employees, or all of them (`employees` undefined). */
export interface StreamPart {
  readonly shard: LeaseShard | undefined;
  readonly employees: readonly string[] | undefined;
}

/**
 * Most workers a lone stream's pages go to by turns: its next page is read while one is opened,
 * so two keep it busy, and more would only hold more of its pages.
 */
const LONE_STREAM_LANES = 2;

/**
 * Where a stream's pages come from: page workers when the vault has them and one has room, else
 * this thread. `secret` is the dataset's; each worker gets its own copy.
 */
export async function pageSource(deps: DatasetDeps, lease: LeaseRow, part: StreamPart, keys: LineKeys, secret: Buffer): Promise<PageSource> {
  const { pageWorkers } = deps;
  // A shard is one of N streams, each on one worker.
  const lanes = part.shard ? 1 : Math.min(LONE_STREAM_LANES, pageWorkers?.size ?? 0);
  const stream = await pageWorkers?.open({ scope: lease, datasetId: lease.datasetId, shard: part.shard, employees: part.employees, secret, lanes });
  if (!stream) return inlineSource(deps, lease, part, keys);
  const { keyRing } = deps;
  return {
    read: async (unit, after) => {
      const page = await stream.read(lease.orgUnits[unit]!, after, WORKER_PAGE);
      return {
        count: page.count,
        endsUnit: page.final,
        last: page.last,
        used: page.used,
        encode: (states) =>
          keyRing.withDataKeys(keysOfPage(page.used, states), async (dataKeys) => {
            const enrolled = [...states].filter(([, state]) => state.enrolled).map(([employeeId]) => employeeId);
            return stream.encode(page.page, unit, keyRing.packDataKeys(dataKeys.values()), enrolled);
          }),
        drop: () => stream.drop(page.page),
      };
    },
    close: () => stream.close(),
  };
}

function inlineSource(deps: DatasetDeps, lease: LeaseRow, part: StreamPart, keys: LineKeys): PageSource {
  const { database, keyRing } = deps;
  return {
    read: async (unit, after) => {
      const { rows, final } = await readScopePage(database, lease, lease.orgUnits[unit]!, after, PAGE, part.employees);
      const last = rows.at(-1);
      return {
        count: rows.length,
        endsUnit: final,
        last: last && { capturedAt: last.captured_at, eventId: last.event_id },
        used: keysUsedBy(rows),
        encode: (states) => encodePage(keyRing, rows, states, datasetLines(rows, unit, keys)),
        drop: () => {},
      };
    },
    close: () => {},
  };
}
