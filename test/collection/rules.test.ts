import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureContextOf, ContextReader, globMatches } from '../../src/collection/rules.js';

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

  it('reads every context field an agent may send, fails closed on one it cannot read, and nothing else', () => {
    assert.deepEqual(captureContextOf({ app: ' ＷhatsApp ', url: 'https://Web.WhatsApp.com./x', window_title: 'Chat' }), { apps: [['whatsapp']], hosts: ['web.whatsapp.com'], titles: ['chat'], unreadable: false });
    assert.deepEqual(captureContextOf({ app: 'Chrome', application: 'Signal', domain: 'signal.org:443/path', title: 'T', window_title: 'U' }), {
      apps: [['chrome'], ['signal']],
      hosts: ['signal.org'],
      titles: ['u', 't'],
      unreadable: false,
    });
    assert.deepEqual(captureContextOf({ url: 'blob:https://web.whatsapp.com/1234' }).hosts, ['web.whatsapp.com']);
    assert.deepEqual(captureContextOf({ url: 'view-source:https://irs.gov/x' }).hosts, ['irs.gov']);
    assert.deepEqual(captureContextOf({ url: '//web.whatsapp.com/x' }).hosts, ['web.whatsapp.com']);
    assert.deepEqual(captureContextOf({ url: `https://web.whatsapp.com/?q=${'x'.repeat(9000)}` }).hosts, ['web.whatsapp.com']);
    assert.deepEqual(captureContextOf({ app: 'Sig\u200bnal.exe' }).apps, [['signal', 'exe']]);
    assert.deepEqual(captureContextOf({ app: ['Slack', 'Signal'] }).apps, [['slack'], ['signal']]);
    assert.equal(captureContextOf({ app: { name: 'Signal' } }).unreadable, true);
    assert.equal(captureContextOf({ url: 42 }).unreadable, true);
    assert.deepEqual(captureContextOf(['app', 'WhatsApp']), { apps: [], hosts: [], titles: [], unreadable: false });
    assert.equal(captureContextOf({ title: 'x'.repeat(5000) }).titles[0]!.length, 1024);
  });

  it("a batch's reader reads a text met again as it read it the first time", () => {
    const payloads = [
      { app: 'WhatsApp', url: 'https://web.whatsapp.com/x', title: 'Chat – Ana' },
      { app: 'editor', title: 'main.ts' },
      { app: 'WhatsApp', url: 'https://web.whatsapp.com/x', title: 'Chat – Ana' },
      { app: ['editor', 'WhatsApp'], host: 'not a url', window_title: 'main.ts' },
      { app: 'editor', url: 42 },
      { app: 'editor', title: 'main.ts' },
    ];
    const reader = new ContextReader();
    for (const payload of [...payloads, ...payloads]) assert.deepEqual(reader.read(payload), captureContextOf(payload));
  });
});
