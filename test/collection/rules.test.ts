import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureContextOf, globMatches } from '../../src/collection/rules.js';

describe('collection rules: globs and capture context', () => {
  it('matches `*` as any run of characters and everything else literally', () => {
    const cases: Array<[string, string, boolean]> = [
      ['*payroll*', 'q3 payroll.xlsx', true],
      ['*payroll*', 'payroll', true],
      ['*payroll*', 'pay roll', false],
      ['inbox - personal*', 'inbox - personal (3)', true],
      ['inbox - personal*', 're: inbox - personal', false],
      ['eu-*', 'eu-west', true],
      ['eu-*', 'us-east', false],
      ['a.b', 'axb', false],
      ['(x)+', '(x)+', true],
      ['*', '', true],
      ['', '', true],
      ['', 'a', false],
      ['a*b*c', 'abbbc', true],
      ['a*b*c', 'acb', false],
    ];
    for (const [glob, text, expected] of cases) assert.equal(globMatches(glob, text), expected, `${glob} vs ${text}`);
  });

  it('takes time linear in the text for a pattern that makes a regular expression backtrack', () => {
    const started = process.hrtime.bigint();
    assert.equal(globMatches(`${'*a'.repeat(40)}*b`, 'a'.repeat(1024)), false);
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 200);
  });

  it('reads the context from the payload fields an agent sends, and nothing else', () => {
    assert.deepEqual(captureContextOf({ app: ' ＷhatsApp ', url: 'https://Web.WhatsApp.com./x', window_title: 'Chat' }), { app: 'whatsapp', host: 'web.whatsapp.com', title: 'chat' });
    assert.deepEqual(captureContextOf({ application: 'Signal', domain: 'signal.org:443/path', title: 'T' }), { app: 'signal', host: 'signal.org', title: 't' });
    assert.deepEqual(captureContextOf({ url: 'not a url' }), { app: undefined, host: 'not a url', title: undefined });
    assert.deepEqual(captureContextOf(['app', 'WhatsApp']), { app: undefined, host: undefined, title: undefined });
    assert.deepEqual(captureContextOf({ app: 42, url: { host: 'x' } }), { app: undefined, host: undefined, title: undefined });
    assert.equal(captureContextOf({ title: 'x'.repeat(5000) }).title!.length, 1024);
  });
});
