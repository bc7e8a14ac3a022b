/**
 * A seal worker thread (see seal-workers.ts): classifies a chunk of ingest records with the
 * classifier of the revision in force and seals each under the key the main thread unwrapped for
 * it, into the envelope the main thread's key ring writes. A level-4 record that is not kept is
 * never sealed. The keys are zeroed when the chunk is done.
 */
import { workerData } from 'node:worker_threads';
import { Classifier, type ClassifierLists } from '../classify/index.js';
import { dataKeyId, loadAead, RecordSealer } from '../crypto/index.js';
import { VaultError } from '../errors/index.js';
import { NEVER_EXPORTED_SENSITIVITY } from '../model/index.js';
import { serveThread } from '../threads/index.js';
import type { SealRequest, SealWorkerData } from './seal-workers.js';

const { aead } = workerData as SealWorkerData;
const sealer = new RecordSealer(await loadAead(aead));
/** The classifiers of the revisions last seen: two, so a chunk of the previous revision still finds its own during an activation. */
const classifiers = new Map<string, Classifier>();

function classifierOf(revision: string, lists: ClassifierLists | undefined): Classifier {
  let classifier = classifiers.get(revision);
  if (!classifier) {
    if (!lists) throw new VaultError('ERR_POLICY_UNAVAILABLE', 'this seal worker has no lists for the revision in force');
    classifier = new Classifier(lists);
    classifiers.set(revision, classifier);
    if (classifiers.size > 2) classifiers.delete(classifiers.keys().next().value!);
  }
  return classifier;
}

serveThread<SealRequest>(async (request) => {
  if (request.op === 'shutdown') return { result: null };
  try {
    const classifier = classifierOf(request.revision, request.lists);
    const found = request.records.map((r) => classifier.classify(JSON.parse(r.payloadText)));
    const { envelopes, ends } = sealer.withKeys(request.keys, (keys) =>
      sealer.sealRecords(
        request.records.map(({ binding, floor, payloadText }, i) => {
          const sensitivity = Math.max(floor, found[i]!.level);
          if (sensitivity >= NEVER_EXPORTED_SENSITIVITY && !request.sealLevel4) return undefined;
          const key = keys.get(dataKeyId(binding.employeeId, binding.dekVersion));
          if (!key) throw new VaultError('ERR_KEY_UNAVAILABLE', 'a chunk names a key its bundle does not hold');
          return { key, binding: { ...binding, sensitivity, categories: found[i]!.categories }, plaintext: payloadText };
        }),
        request.kekFingerprint,
      ),
    );
    return { result: { found: found.map(({ level, categories }) => ({ level, categories })), envelopes, ends }, transfer: [envelopes.buffer as ArrayBuffer] };
  } finally {
    request.keys.bytes.fill(0);
  }
});
