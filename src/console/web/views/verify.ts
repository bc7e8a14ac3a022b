import type { Api } from '../api.js';
import { append, badge, clear, clearError, el, heading, showError, table, time, withLoading, type Child } from '../dom.js';
import type { ConsoleView } from '../view.js';

interface VerifyResult {
  ok: boolean;
  checked: number;
  broken_at?: number;
  reason?: string;
}

interface Checkpoint {
  seq: number;
  hash: string;
  signed_at: string;
  key_id: string;
  signature: string;
}

interface Checkpoints {
  public_key: { key_id: string; pem: string; jwk: JsonWebKey };
  checkpoints: Checkpoint[];
}

interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; reason?: string }>;
}

type SignatureCheck = 'valid' | 'invalid' | 'unchecked';

/** Go's encoding/json string form, which the vault's canonical JSON follows (`<`, `>`, `&` escaped). */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The bytes a checkpoint signs: canonical JSON with keys in byte order (src/audit/chain.ts). */
function checkpointStatement(cp: Checkpoint): Uint8Array<ArrayBuffer> {
  const json = `{"hash":${goString(cp.hash)},"key_id":${goString(cp.key_id)},"log":"activity-vault/audit","seq":${cp.seq},"signed_at":${goString(cp.signed_at)},"v":1}`;
  return new TextEncoder().encode(json);
}

function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  const text = atob(b64);
  const bytes = new Uint8Array(new ArrayBuffer(text.length));
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * Checks each checkpoint's Ed25519 signature in this browser, against the key the vault publishes:
 * the auditor does not have to take the vault's word for its own checkpoints. A browser without
 * Ed25519 in WebCrypto leaves them unchecked, and says so.
 */
async function checkSignatures(list: Checkpoints): Promise<Map<number, SignatureCheck>> {
  const out = new Map<number, SignatureCheck>(list.checkpoints.map((cp) => [cp.seq, 'unchecked']));
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('jwk', list.public_key.jwk, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    return out;
  }
  for (const cp of list.checkpoints) {
    if (cp.key_id !== list.public_key.key_id) {
      out.set(cp.seq, 'invalid');
      continue;
    }
    try {
      out.set(cp.seq, (await crypto.subtle.verify({ name: 'Ed25519' }, key, base64Bytes(cp.signature), checkpointStatement(cp))) ? 'valid' : 'invalid');
    } catch {
      out.set(cp.seq, 'unchecked');
    }
  }
  return out;
}

function renderChainStatus(box: HTMLElement, result: VerifyResult | undefined): void {
  clear(box);
  box.classList.remove('good', 'bad');
  if (!result) {
    box.setAttribute('data-state', 'unknown');
    box.append(el('span', { class: 'muted' }, 'Not verified yet in this page. Run the check to walk the whole chain.'));
    return;
  }
  if (result.ok) {
    box.setAttribute('data-state', 'ok');
    box.classList.add('good');
    box.append(badge('OK', 'ok'), ` Chain intact: ${result.checked} events checked, head and signed checkpoints agree.`);
    return;
  }
  box.setAttribute('data-state', 'broken');
  box.setAttribute('data-broken-at', String(result.broken_at ?? ''));
  box.classList.add('bad');
  box.append(`BROKEN at seq ${result.broken_at ?? '?'}`, result.reason ? `: ${result.reason}` : '', `. ${result.checked} events before it check out.`);
}

/** The witness as the vault's readiness probe sees it, and as the last chain walk found it. */
function renderWitness(box: HTMLElement, readiness: Readiness | undefined, result: VerifyResult | undefined, newest: Checkpoint | undefined): void {
  clear(box);
  box.classList.remove('good', 'bad');
  const check = readiness?.checks.witness;
  // A walk that stopped on the chain never reached the witness comparison; only the probe speaks then.
  const walkBlames = result && !result.ok && /witness|rewound|covered by a signed checkpoint/i.test(result.reason ?? '');
  if (!check) {
    box.setAttribute('data-state', 'unknown');
    box.append(el('span', { class: 'muted' }, 'The vault did not report its witness.'));
    return;
  }
  if (check.ok && !walkBlames) {
    box.setAttribute('data-state', 'agrees');
    box.classList.add('good');
    const detail: Child[] = newest ? [` Its newest checkpoint here is seq ${newest.seq}, signed `, time(newest.signed_at), '.'] : [' No checkpoint signed yet.'];
    append(box, badge('agrees', 'ok'), ' The witness copy outside the database agrees with the log.', ...detail);
    if (result && !result.ok) box.append(el('span', { class: 'muted' }, ' (As the vault\u2019s readiness probe sees it: the walk stopped at the break, before its own comparison with the witness.)'));
    return;
  }
  box.setAttribute('data-state', 'disagrees');
  box.classList.add('bad');
  box.append(badge('disagrees', 'broken'), ` The witness copy disagrees: ${(walkBlames ? result?.reason : check.reason) ?? 'no reason given'}.`);
}

async function readiness(): Promise<Readiness | undefined> {
  // Public and answered with 503 when anything is not ready: the body is what matters here.
  try {
    const res = await fetch('/readyz', { headers: { accept: 'application/json' }, credentials: 'omit', cache: 'no-store' });
    return (await res.json()) as Readiness;
  } catch {
    return undefined;
  }
}

/**
 * The auditor's proof that the log is whole: the chain walked end to end on demand, the signed
 * checkpoints (their signatures checked here, in the browser), and the witness outside the database.
 */
export const verifyView: ConsoleView = {
  id: 'verify',
  title: 'Verify chain',
  roles: ['auditor'],
  async render(root: HTMLElement, api: Api) {
    const chain = el('div', { 'data-testid': 'chain-status', class: 'status-line', 'aria-live': 'polite' });
    const witness = el('div', { 'data-testid': 'witness-status', class: 'status-line', 'aria-live': 'polite' });
    const checkpoints = el('div', { class: 'checkpoints-out table-wrap' });
    const keyInfo = el('p', { class: 'muted', 'data-testid': 'checkpoint-key' });
    let result: VerifyResult | undefined;
    let newest: Checkpoint | undefined;

    const loadCheckpoints = async (): Promise<void> => {
      clear(checkpoints);
      // Errors of the listing go in the list itself: a refused signing, shown above, stays.
      const list = await withLoading(checkpoints, checkpoints, () => api.get<Checkpoints>('/v1/audit/checkpoints'));
      if (!list) return;
      newest = list.checkpoints[0];
      const checks = await checkSignatures(list);
      keyInfo.textContent = `Signed with Ed25519 key ${list.public_key.key_id}; each signature below is checked in this browser against it.`;
      checkpoints.appendChild(
        table(
          [
            { label: 'Seq', value: (cp) => cp.seq, className: 'num' },
            { label: 'Signed', value: (cp) => time(cp.signed_at) },
            { label: 'Event hash', value: (cp) => el('code', { title: cp.hash }, `${cp.hash.slice(0, 16)}…`) },
            { label: 'Key', value: (cp) => el('code', {}, cp.key_id) },
            {
              label: 'Signature',
              value: (cp) => {
                const c = checks.get(cp.seq) ?? 'unchecked';
                return c === 'valid' ? badge('valid', 'ok') : c === 'invalid' ? badge('INVALID', 'broken') : badge('not checked here', 'warn');
              },
            },
          ],
          list.checkpoints,
          { id: 'checkpoints', empty: 'No checkpoint signed yet.', rowAttrs: (cp) => ({ 'data-seq': cp.seq, 'data-signature': checks.get(cp.seq) ?? 'unchecked' }) },
        ),
      );
    };

    const refreshWitness = async (): Promise<void> => renderWitness(witness, await readiness(), result, newest);

    const run = el('button', { id: 'verify-run', type: 'button', class: 'primary' }, 'Verify the chain');
    run.addEventListener('click', async () => {
      clearError(root);
      run.disabled = true;
      clear(chain);
      chain.classList.remove('good', 'bad');
      chain.setAttribute('data-state', 'running');
      chain.append(el('span', { class: 'loading' }, 'Walking the chain…'));
      try {
        result = await api.get<VerifyResult>('/v1/audit/verify');
        renderChainStatus(chain, result);
      } catch (err) {
        renderChainStatus(chain, undefined);
        showError(root, err);
      } finally {
        run.disabled = false;
      }
      await refreshWitness();
    });

    const sign = el('button', { id: 'checkpoint-sign', type: 'button' }, 'Sign a checkpoint now');
    sign.addEventListener('click', async () => {
      clearError(root);
      sign.disabled = true;
      try {
        await api.send('POST', '/v1/audit/checkpoints');
      } catch (err) {
        showError(root, err);
      } finally {
        sign.disabled = false;
      }
      await loadCheckpoints();
      await refreshWitness();
    });

    renderChainStatus(chain, undefined);
    root.append(
      heading('Verify chain', 'Each audit event carries the hash of the one before it. The walk recomputes every hash, checks the head, the signed checkpoints and the witness copy kept outside the database.'),
      el('div', { class: 'toolbar' }, run),
      chain,
      el('h2', {}, 'Witness'),
      witness,
      el('h2', {}, 'Signed checkpoints'),
      el('div', { class: 'toolbar' }, sign, keyInfo),
      checkpoints,
    );
    await loadCheckpoints();
    await refreshWitness();
  },
};
