import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isVaultError } from '../../src/errors/index.js';
import { ThreadWorker } from '../../src/threads/index.js';

type Request = { op: 'echo'; value: string } | { op: 'fail' } | { op: 'die' } | { op: 'hang' } | { op: 'shutdown' };

const start = (alarms: Array<Record<string, unknown>>) =>
  new ThreadWorker<Request>({
    name: 'test_worker',
    entry: new URL('./fixture-worker.ts', import.meta.url),
    data: null,
    limits: { maxOldGenerationSizeMb: 32 },
    log: (event) => void alarms.push(event),
  });

describe('worker threads', () => {
  // Workers do not hold the process open (a server's sockets do): the test holds it while it waits on them.
  let alive: NodeJS.Timeout;
  before(() => void (alive = setInterval(() => {}, 1000)));
  after(() => clearInterval(alive));

  it('answers, and a failure that is not the vault\'s crosses back as its code only, never its text', async () => {
    const alarms: Array<Record<string, unknown>> = [];
    const worker = start(alarms);
    try {
      assert.equal(await worker.call<string>({ op: 'echo', value: 'hello' }), 'hello');
      await assert.rejects(worker.call({ op: 'fail' }), (err) => isVaultError(err, 'ERR_INTERNAL') && /\(23505\)/.test(err.message) && !/123-45-6789|duplicate/.test(err.message));
    } finally {
      await worker.stop();
    }
    assert.deepEqual(alarms, [], 'a worker stopped on purpose raises no alarm');
  });

  it('a worker that dies fails its calls in flight and after as unavailable, and raises an alarm', async () => {
    const alarms: Array<Record<string, unknown>> = [];
    const worker = start(alarms);
    worker.load = 3;
    const inFlight = worker.call({ op: 'hang' });
    await assert.rejects(worker.call({ op: 'die' }), (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
    await assert.rejects(inFlight, (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
    await assert.rejects(worker.call({ op: 'echo', value: 'x' }), (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
    assert.equal(worker.dead, true);
    assert.deepEqual(alarms, [{ alarm: 'test_worker_stopped', exit_code: 3, reason: undefined, load: 3 }]);
  });

  it('a worker that does not answer by its deadline is taken for hung: stopped, its calls failed, its alarm raised', async () => {
    const alarms: Array<Record<string, unknown>> = [];
    const worker = start(alarms);
    const other = worker.call({ op: 'hang' });
    await assert.rejects(worker.call({ op: 'hang' }, [], { deadlineMs: 200 }), (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
    await assert.rejects(other, (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
    assert.equal(worker.dead, true);
    assert.equal(alarms.length, 1);
    assert.equal(alarms[0]!.alarm, 'test_worker_stopped');
    assert.equal(alarms[0]!.reason, 'deadline');
  });

  it('a worker being stopped takes no more work', async () => {
    const worker = start([]);
    assert.equal(await worker.call<string>({ op: 'echo', value: 'a' }), 'a');
    const stopping = worker.stop();
    await assert.rejects(worker.call({ op: 'echo', value: 'b' }), (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
    await stopping;
  });
});
