/** A worker for test/threads/threads.test.ts: echoes, fails as a driver would, or dies. */
import { serveThread } from '../../src/threads/index.js';

type Request = { op: 'echo'; value: string } | { op: 'fail' } | { op: 'die' } | { op: 'hang' } | { op: 'shutdown' };

serveThread<Request>(async (request) => {
  switch (request.op) {
    case 'echo':
      return { result: request.value };
    case 'fail':
      throw Object.assign(new Error('duplicate key value violates unique constraint: Key (ssn)=(123-45-6789)'), { code: '23505' });
    case 'die':
      process.exit(3);
    case 'hang':
      return new Promise(() => {});
    case 'shutdown':
      return { result: null };
  }
});
