import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { lintSource } from '@secretlint/core';
import { creator as recommendedPreset, rules as recommendedRules } from '@secretlint/secretlint-rule-preset-recommend';
import { Classifier, loadClassifierLists, SECRETLINT_RULES, type Category, type ClassifierLists } from '../../src/classify/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { tempDir } from '../support/vault.js';

// Tokens are assembled at run time so this file holds no string a secret scanner would flag.
function chars(n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', seed = 7): string {
  let s = '';
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 48271) % 2147483647;
    s += alphabet[x % alphabet.length];
  }
  return s;
}
const hex = (n: number) => chars(n, '0123456789abcdef', 5);
const letters = (n: number) => chars(n, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 11);
const base64Json = (value: object) => {
  let json = JSON.stringify(value);
  while (json.length % 3 !== 1) json = `${json.slice(0, -1)} }`;
  return Buffer.from(json).toString('base64');
};
const pemBlock = (label: string) => `-----BEGIN ${label}PRIVATE KEY-----\nMI${chars(62)}\n${chars(64, undefined, 3)}\n${chars(40, undefined, 9)}==\n-----END ${label}PRIVATE KEY-----`;

let classifier: Classifier;
let lists: ClassifierLists;
before(async () => {
  lists = await loadClassifierLists();
  classifier = new Classifier(lists);
});

function assertFinds(payload: unknown, category: Category, level = 4): void {
  const result = classifier.classify(payload);
  assert.ok(result.categories.includes(category), `${JSON.stringify(payload)} -> ${JSON.stringify(result)}, expected ${category}`);
  assert.equal(result.level, level);
}

describe('government ids', () => {
  it('finds an SSN written with spaces: 123 45 6789', () => assertFinds({ text: 'my number is 123 45 6789' }, 'government_id'));
  it('finds an SSN without separators after ssn=', () => assertFinds({ text: 'ssn=123456789' }, 'government_id'));
  it('finds an SSN written with en-dashes', () => assertFinds({ text: 'SSN 123\u201345\u20136789' }, 'government_id'));
  it('finds an SSN written in full-width digits', () => assertFinds({ text: 'SSN \uff11\uff12\uff13-\uff14\uff15-\uff16\uff17\uff18\uff19' }, 'government_id'));
  it('finds an SSN glued to letters', () => assertFinds({ text: 'abc123 45 6789def' }, 'government_id'));
  it('finds an SSN glued to _ and letters', () => assertFinds({ text: 'SSN_123-45-6789x' }, 'government_id'));
  it('finds an SSN split by zero-width spaces', () => assertFinds({ text: '123\u200b-45\u200b-6789' }, 'government_id'));
  it('finds an SSN under an ssn key, as a string or a JSON number', () => {
    assertFinds({ form: { ssn: '123456789' } }, 'government_id');
    assertFinds({ ssn: 123456789 }, 'government_id');
  });
  it('finds an SSN used as a JSON key', () => assertFinds({ '123-45-6789': true }, 'government_id'));
  it('finds an ITIN, an EIN next to tax words, a UK NINO, a Canadian SIN, a Steuer-ID and a French NIR', () => {
    assertFinds({ text: 'ITIN 912-70-1234' }, 'government_id');
    assertFinds({ text: 'our EIN is 12-3456789' }, 'government_id');
    assertFinds({ text: 'NI number AB 12 34 56 C' }, 'government_id');
    assertFinds({ text: 'SIN 130 692 544' }, 'government_id');
    assertFinds({ text: 'Steuer-ID 65929970489' }, 'government_id');
    assertFinds({ text: 'NIR 2 69 05 49 588 157 80' }, 'government_id');
  });
  it('leaves invalid SSNs and bare nine-digit numbers below level 3', () => {
    for (const text of ['ref 000-12-3456', 'code 666-12-3456', 'ticket 123456789 closed', 'order123456789', 'area 123-00-4567']) {
      assert.ok(classifier.classify({ text }).level < 3, text);
    }
  });
});

describe('payment cards', () => {
  it('finds a card followed by its expiry', () => assertFinds({ text: 'card 4111 1111 1111 1111 12/27' }, 'payment_card'));
  it('finds a card followed by its expiry and CVV without words between', () => assertFinds({ text: '4111 1111 1111 1111 1227 123' }, 'payment_card'));
  it('finds a card followed by its CVV', () => assertFinds({ text: '5555555555554444 cvv 123' }, 'payment_card'));
  it('finds a card written with dots', () => assertFinds({ text: '5555.5555.5555.4444' }, 'payment_card'));
  it('finds an Amex number in its 4-6-5 grouping', () => assertFinds({ text: 'amex 3782 822463 10005' }, 'payment_card'));
  it('ignores Luhn-invalid numbers and order numbers', () => {
    for (const text of ['4111 1111 1111 1112', 'Order 4578370301449865 confirmed', 'tracking 9400 2511 2382 4693 8876 93']) {
      assert.ok(classifier.classify({ text }).level < 3, text);
    }
  });
});

describe('bank accounts', () => {
  it('finds an IBAN with its mod-97 check, spaced, compact or lower case', () => {
    assertFinds({ text: 'pay to DE89 3704 0044 0532 0130 00 please' }, 'bank_account');
    assertFinds({ text: 'IBAN:GB82WEST12345698765432' }, 'bank_account');
    assertFinds({ text: 'fr14 2004 1010 0505 0001 3m02 606' }, 'bank_account');
  });
  it('ignores an IBAN whose check digits are wrong', () => assert.equal(classifier.classify({ text: 'DE89 3704 0044 0532 0130 01' }).level, 0));
  it('finds an ABA routing number next to an account number', () => assertFinds({ text: 'routing 021000021 account 123456789012' }, 'bank_account'));
});

describe('credentials', () => {
  it('finds an AWS access key id and a secret access key assignment', () => {
    assertFinds({ text: `key ${'AK' + 'IA'}${chars(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}` }, 'credential');
    assertFinds({ text: `aws_secret_access_key = ${chars(40)}` }, 'credential');
  });
  it('finds a GitHub token', () => assertFinds({ text: `export GITHUB_TOKEN=${'gh' + 'p_'}${chars(36)}` }, 'credential'));
  it('finds a Slack token', () => assertFinds({ text: `${'xo' + 'xb'}-1234567890-1234567890123-${chars(24)}` }, 'credential'));
  it('finds a private key block, whole or cut short', () => {
    assertFinds({ text: pemBlock('RSA ') }, 'credential');
    assertFinds({ text: `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA` }, 'credential');
  });
  it('finds JWTs, URLs with passwords and password assignments', () => {
    assertFinds({ text: `Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.${chars(43)}` }, 'credential');
    assertFinds({ text: 'DATABASE_URL=postgres://user:pass@db.internal:5432/app' }, 'credential');
    assertFinds({ text: 'password: hunter2' }, 'credential');
    assertFinds({ text: 'my password is Summer2024!' }, 'credential');
    assertFinds({ login: { user: 'ann', password: 'correct horse battery staple' } }, 'credential');
  });
  it('leaves placeholders, variables and prose about passwords below level 3', () => {
    for (const text of [
      'Reset your password: click the link we sent',
      'password: ********',
      'password=${DB_PASSWORD}',
      'api_key: YOUR_API_KEY',
      'const secret = generateSecret();',
      'secret_key = settings.SECRET_KEY',
      'Authorization: Bearer <token>',
      'connect to postgres://localhost:5432/dev',
      'password is required',
    ]) {
      assert.ok(classifier.classify({ text }).level < 3, text);
    }
    assert.ok(classifier.classify({ password: '' }).level < 3);
  });
  it('finds a cloud service-account key file, as an object or as the text of the file', () => {
    const keyFile = { type: 'service_account', project_id: 'demo', private_key_id: hex(40), private_key: `${pemBlock('')}\n` };
    assertFinds({ editor: keyFile }, 'credential');
    assertFinds({ text: JSON.stringify(keyFile) }, 'credential');
  });
  it('a secretlint-disable comment in a payload does not switch detection off', () => {
    assertFinds({ text: `// secretlint-disable\n${'gh' + 'p_'}${chars(36)}` }, 'credential');
  });
});

describe('the secretlint recommended preset, run synchronously', () => {
  const samples: Record<string, string> = {
    '@secretlint/secretlint-rule-aws': `AWS_SECRET_ACCESS_KEY=${chars(40, undefined, 9)}`,
    '@secretlint/secretlint-rule-privatekey': pemBlock('RSA '),
    '@secretlint/secretlint-rule-npm': `${'np' + 'm_'}${chars(36)}`,
    '@secretlint/secretlint-rule-basicauth': `https://alice:${chars(12)}@git.example.org/repo`,
    '@secretlint/secretlint-rule-slack': `https://hooks.slack.com/services/T${chars(8)}/B${chars(8)}/${chars(24)}`,
    '@secretlint/secretlint-rule-sendgrid': `${'S' + 'G.'}${chars(22)}.${chars(43)}`,
    '@secretlint/secretlint-rule-shopify': `${'shp' + 'at_'}${hex(32)}`,
    '@secretlint/secretlint-rule-github': `${'github' + '_pat_'}${chars(82)}`,
    '@secretlint/secretlint-rule-gitlab': `${'glp' + 'at-'}${chars(20)}`,
    '@secretlint/secretlint-rule-grafana': `${'gl' + 'sa_'}${chars(32)}_${hex(8)}`,
    '@secretlint/secretlint-rule-openai': `${'sk-' + 'proj-'}${chars(58)}${'T3Blbk' + 'FJ'}${chars(58, undefined, 3)}`,
    '@secretlint/secretlint-rule-anthropic': `${'sk-' + 'ant-'}api03-${chars(93)}AA`,
    '@secretlint/secretlint-rule-groq': `${'gs' + 'k_'}${chars(52)}`,
    '@secretlint/secretlint-rule-huggingface': `${'h' + 'f_'}${letters(34)}`,
    '@secretlint/secretlint-rule-linear': `${'lin_' + 'api_'}${chars(40)}`,
    '@secretlint/secretlint-rule-notion': `${'nt' + 'n_'}12345678901${chars(35)}`,
    '@secretlint/secretlint-rule-1password': `${'op' + 's_'}${base64Json({ email: 'svc@1passwordserviceaccounts.lcl', secretKey: chars(36), srpX: hex(64), signInAddress: 'example.1password.com' })}`,
    '@secretlint/secretlint-rule-database-connection-string': `mongodb+srv://app:${chars(16)}@cluster0.example.net/prod`,
    '@secretlint/secretlint-rule-hashicorp-vault': `${'hv' + 's.'}${chars(95)}`,
    '@secretlint/secretlint-rule-vercel': `${'vc' + 'p_'}${chars(24)}`,
    '@secretlint/secretlint-rule-databricks': `${'da' + 'pi'}${hex(32)}`,
    '@secretlint/secretlint-rule-docker': `${'dckr' + '_pat_'}${chars(27)}`,
    '@secretlint/secretlint-rule-figma': `${'fi' + 'gd_'}${chars(43)}`,
  };

  it('every rule of the preset is either run behind a trigger or skipped for a stated reason', () => {
    const ids = (recommendedRules as unknown as { meta: { id: string } }[]).map((r) => r.meta.id).sort();
    assert.deepEqual(Object.keys(SECRETLINT_RULES).sort(), ids);
    const run = Object.entries(SECRETLINT_RULES).filter(([, entry]) => 'trigger' in entry).map(([id]) => id).sort();
    assert.deepEqual(Object.keys(samples).sort(), run);
  });

  for (const [ruleId, sample] of Object.entries(samples)) {
    it(`agrees with secretlint's own engine on ${ruleId.replace('@secretlint/secretlint-rule-', '')}`, async () => {
      const linted = await lintSource({
        source: { content: sample, filePath: '/payload', contentType: 'text' },
        options: {
          config: { rules: [{ id: recommendedPreset.meta.id, rule: recommendedPreset, rules: [{ id: '@secretlint/secretlint-rule-aws', options: { enableIDScanRule: true } }] }] },
          noPhysicFilePath: true,
        },
      });
      assert.ok(linted.messages.some((m) => m.ruleId === ruleId), `secretlint itself does not report the sample for ${ruleId}`);
      assertFinds({ text: `config: ${sample}` }, 'credential');
    });
  }
});

describe('health', () => {
  it('finds a diagnosis', () => assertFinds({ text: 'She was diagnosed with type 2 diabetes last spring' }, 'health'));
  it('finds a prescription', () => assertFinds({ text: 'picking up my sertraline refill, 50 mg once daily' }, 'health'));
  it('finds lab results, mental health and pregnancy', () => {
    assertFinds({ text: 'my HbA1c came back at 7.2' }, 'health');
    assertFinds({ text: 'therapy session moved to Thursday' }, 'health');
    assertFinds({ text: 'we just found out I am pregnant' }, 'health');
  });
  it('counts an ICD-10 code only next to a health word', () => {
    assertFinds({ text: 'Dx: E11.9' }, 'health');
    assertFinds({ diagnosis: 'F41.1' }, 'health');
    assert.equal(classifier.classify({ text: 'error E11.9 in the spreadsheet cell' }).level, 0);
  });
  it('finds a patient portal by app and by domain', () => {
    assertFinds({ app: 'MyChart', text: 'Test results' }, 'health');
    assertFinds({ url: 'https://mychart.example-hospital.org/MyChart/Messages', text: '' }, 'health');
  });
});

describe('tax', () => {
  it('finds a tax form next to tax words', () => {
    assertFinds({ text: 'attached my W-2 and the 1040 for this year\'s taxes' }, 'tax');
    assertFinds({ text: 'uploaded Form 1099-NEC' }, 'tax');
  });
  it('finds tax software and tax-authority domains', () => {
    assertFinds({ app: 'TurboTax', text: 'Federal review' }, 'tax');
    assertFinds({ url: 'https://sa.www4.irs.gov/irfof/lang/en/irfofgetstatus.jsp', text: '' }, 'tax');
  });
  it('leaves "tax" and form numbers in ordinary work text below level 3', () => {
    for (const text of ['we should not tax the CPU with this loop', 'sales tax rate 8.25% applied at checkout', '<div className="w-2 h-2">', 'the file has 1099 rows']) {
      assert.equal(classifier.classify({ text }).level, 0, text);
    }
  });
});

describe('private conversations', () => {
  it('finds a WhatsApp message by its app, whatever its text', () => assertFinds({ app: 'WhatsApp', text: 'see you at 6' }, 'private_conversation'));
  it('finds a WhatsApp message by its url', () => assertFinds({ url: 'https://web.whatsapp.com/', text: 'ok' }, 'private_conversation'));
  it('finds other messengers by bundle id, executable and window title', () => {
    assertFinds({ app: 'org.whispersystems.signal', text: '' }, 'private_conversation');
    assertFinds({ app: 'C:\\Program Files\\Telegram Desktop\\Telegram.exe', text: '' }, 'private_conversation');
    assertFinds({ window_title: '(3) WhatsApp', text: '' }, 'private_conversation');
    assertFinds({ context: { domain: 'www.messenger.com' } }, 'private_conversation');
  });
  it('reads a window title of one segment as it reads a segment: a listed app, not a title word, 60 characters at most', () => {
    for (const title of ['WhatsApp', '  Telegram Desktop ', 'WhatsApp.exe', 'Signal Beta']) assertFinds({ window_title: title }, 'private_conversation');
    for (const title of ['Messages', 'Signal', 'Inbox', `WhatsApp${' '.repeat(60)}`, 'notes.txt']) assert.equal(classifier.classify({ window_title: title }).level, 0, title);
    assertFinds({ window_title: 'notes.txt - WhatsApp' }, 'private_conversation');
  });
  it('does not take work text about a messenger for a conversation in it', () => {
    assert.equal(classifier.classify({ app: 'Google Docs', window_title: 'WhatsApp integration design - Google Docs', text: 'Signal processing notes' }).level, 0);
  });
});

describe('contact data (level 3)', () => {
  it('finds a personal email, a phone number and a street address', () => {
    assertFinds({ text: 'reach me at jane.doe@gmail.com' }, 'contact_data', 3);
    assertFinds({ text: 'call me at (415) 555-0132' }, 'contact_data', 3);
    assertFinds({ text: 'my cell is +44 20 7946 0958' }, 'contact_data', 3);
    assertFinds({ text: 'I live at 742 Evergreen Terrace, Springfield' }, 'contact_data', 3);
  });
  it('does not count a work email or a phone extension', () => {
    assert.equal(classifier.classify({ text: 'ping jane.doe@acme.com or dial ext. 4521' }).level, 0);
  });
});

describe('benign look-alikes', () => {
  it('stay below level 3', () => {
    for (const text of [
      'Invoice INV-2024-000913 total $4,512.20',
      'Order #88231974 shipped, tracking 1Z999AA10123456784',
      'at 2024-01-15T10:32:07.123Z (epoch 1705314727123)',
      'request id 550e8400-e29b-41d4-a716-446655440000',
      'commit e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'upgrade to v10.15.7, build 20240115.3',
      'ISBN 978-0-306-40615-7',
      'call ext. 4521 or x231',
      'const buf = Buffer.alloc(65536); for (let i = 0; i < 1000000; i++) sum += arr[i] * 255;',
      'the health check endpoint /healthz returns 503 after deploy',
      'diagnose the memory leak in worker 12',
      'AWS account 123456789012 in us-east-1',
      '=SUM(A1:C10)',
      'routing table has 1024 entries',
    ]) {
      const result = classifier.classify({ text });
      assert.ok(result.level < 3, `${text} -> ${JSON.stringify(result)}`);
    }
  });
});

describe('the payload walk', () => {
  it('classifies a payload nested 20,000 levels deep without overflowing the stack', () => {
    let payload: unknown = 'ssn 123-45-6789';
    for (let i = 0; i < 20_000; i++) payload = i % 2 === 0 ? [payload] : { nested: payload };
    assert.deepEqual(classifier.classify(payload), { level: 4, categories: ['government_id'] });
  });
  it('reports every category found, sorted, and the highest level', () => {
    const result = classifier.classify({ app: 'WhatsApp', text: 'my ssn is 123-45-6789', mail: 'bob@yahoo.com' });
    assert.deepEqual(result, { level: 4, categories: ['contact_data', 'government_id', 'private_conversation'] });
  });
  it('gives level 0 and no category to a payload without findings, or one that is not an object', () => {
    for (const payload of [{ text: 'refactored the parser' }, null, 42, true, [], 'hello']) assert.deepEqual(classifier.classify(payload), { level: 0, categories: [] });
  });
});

describe('loadClassifierLists', () => {
  it('rejects a malformed file with ERR_CONFIG naming the file and the field', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'classification.json');
    const good = JSON.parse(await fs.readFile(path.join(import.meta.dirname, '../../policies/classification/data.json'), 'utf8'));
    const cases: Array<[unknown, string]> = [
      [{ ...good, health: { ...good.health, keywords: 'diabetes' } }, 'health.keywords'],
      [{ ...good, tax: { ...good.tax, domains: ['IRS.gov '] } }, 'tax.domains[0]'],
      [{ ...good, private_conversation: { ...good.private_conversation, apps: ['WhatsApp', ''] } }, 'private_conversation.apps[1]'],
      [{ ...good, contact_data: {} }, 'contact_data.personal_email_domains'],
      [{ ...good, extra: true }, 'extra'],
      [{ ...good, version: 2 }, 'version'],
    ];
    for (const [content, field] of cases) {
      await fs.writeFile(file, JSON.stringify(content));
      await assert.rejects(loadClassifierLists(file), (err) => isVaultError(err, 'ERR_CONFIG') && err.message.includes(file) && err.message.includes(field), field);
    }
    await fs.writeFile(file, '{"version": 1,');
    await assert.rejects(loadClassifierLists(file), (err) => isVaultError(err, 'ERR_CONFIG') && err.message.includes(file));
    await assert.rejects(loadClassifierLists(path.join(dir, 'absent.json')), (err) => isVaultError(err, 'ERR_CONFIG'));
  });

  it('reads the shipped defaults, and the lists drive the classifier', async () => {
    assert.ok(lists.privateConversation.apps.includes('WhatsApp'));
    const dir = await tempDir();
    const file = path.join(dir, 'classification.json');
    const good = JSON.parse(await fs.readFile(path.join(import.meta.dirname, '../../policies/classification/data.json'), 'utf8'));
    good.private_conversation.apps.push('Acme Chat');
    await fs.writeFile(file, JSON.stringify(good));
    const extended = new Classifier(await loadClassifierLists(file));
    assert.deepEqual(extended.classify({ app: 'Acme Chat', text: 'hi' }).categories, ['private_conversation']);
  });
});

describe('held-out corpora: context across fields, formats the first version missed, no extra categories', () => {
  const exactly = (payload: unknown, categories: readonly Category[]) => {
    const result = classifier.classify(payload);
    assert.deepEqual(result.categories, [...categories].sort(), `${JSON.stringify(payload)} -> ${JSON.stringify(result)}`);
  };
  const fullWidth = (s: string) => [...s].map((c) => (c === ' ' ? '\u3000' : String.fromCodePoint(c.codePointAt(0)! + 0xfee0))).join('');

  it('reads a tax form in a window titled as a tax document as tax, and not the form alone', () => {
    exactly({ app: 'Microsoft Excel', window_title: 'taxes_2025.xlsx', text: 'Schedule C net profit $65,603.42' }, ['tax']);
    exactly({ app: 'Microsoft Excel', window_title: 'taxes_2025.xlsx', text: '1099-K from PayPal says $10,754.24 gross payments' }, ['tax']);
    assert.equal(classifier.classify({ app: 'Microsoft Excel', window_title: 'q3_roadmap.xlsx', text: 'Schedule C net profit $65,603.42' }).level, 0);
  });

  it('finds a patient portal under patient.<vendor> and a diagnosis of any named condition', () => {
    assertFinds({ app: 'Google Chrome', url: 'https://patient.athenahealth.com/messages', text: 'Visit summary: follow up in 4 weeks.' }, 'health');
    assertFinds({ app: 'ChatGPT', prompt: 'I was just diagnosed with hypothyroidism. What should I ask my doctor?' }, 'health');
    exactly({ app: 'Telegram', window_title: 'Dad', text: "the doctor says it's hypothyroidism, don't tell dad yet" }, ['health', 'private_conversation']);
  });

  it('finds a phone number written the national way (trunk 0 and area code), also inside a messenger', () => {
    assertFinds({ app: 'Notes', text: 'plumber Nikolai 020 7946 0083' }, 'contact_data', 3);
    exactly({ app: 'WhatsApp', window_title: 'Priya', text: 'new number, save it: 020 7946 0757' }, ['contact_data', 'private_conversation']);
    for (const text of ['ValidationError: NL41 RABO 0318 2904 41 failed mod-97', 'rows 01 02 2024 12 to 18', 'order 020 7946 0083']) {
      assert.ok(classifier.classify({ text }).level < 3, text);
    }
  });

  it('finds AWS secret keys ending in / or + before the closing quote, and leaves the documentation example', () => {
    assertFinds({ text: `AWS_SECRET_ACCESS_KEY = "${chars(39)}/"` }, 'credential');
    assertFinds({ text: `AWS_SECRET_ACCESS_KEY = "${chars(39, undefined, 5)}+"` }, 'credential');
    assert.ok(classifier.classify({ text: `aws_secret_access_key=${'wJalrXUtnFEMI/K7MDENG/' + 'bPxRfiCY'}EXAMPLEKEY` }).level < 3);
  });

  it('finds an Azure storage connection string, its AccountKey starting with / or not', () => {
    const key = `${chars(86, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')}==`;
    assertFinds({ text: `DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey=${key};EndpointSuffix=core.windows.net` }, 'credential');
    assertFinds({ text: `prod connection string is DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey=/${key.slice(1)};EndpointSuffix=core.windows.net` }, 'credential');
  });

  it('counts random mixed-case letters after password: but not a camelCase name', () => {
    assertFinds({ app: 'Notes', text: `wifi guest network password: ${letters(20)}` }, 'credential');
    assertFinds({ text: `spring.datasource.password=${chars(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 5)}` }, 'credential');
    for (const text of ['password = userPassword', 'password: HTTPBasicAuth', 'password=getDatabasePassword']) {
      assert.ok(classifier.classify({ text }).level < 3, text);
    }
  });

  it('finds an OpenAI key that ends in a dash', () => {
    assertFinds({ text: `try with this one: ${'sk-' + 'proj-'}${chars(58)}${'T3Blbk' + 'FJ'}${chars(56, undefined, 3)}-X-` }, 'credential');
  });

  it('reads no words inside a key or a line of base64: a health or tax word there is chance', () => {
    exactly({ text: `github_token: ${'github' + '_pat_'}${chars(38)}8hpvF5${chars(38, undefined, 3)}` }, ['credential']);
    exactly({ text: `OPENAI_API_KEY=${'sk-' + 'proj-'}${chars(30)}7irs2${chars(23, undefined, 5)}${'T3Blbk' + 'FJ'}${chars(58, undefined, 3)}` }, ['credential']);
    exactly({ text: `-----BEGIN PRIVATE KEY-----\nMIIEvQ${chars(30)}4hiv9${chars(27, undefined, 3)}\n-----END PRIVATE KEY-----` }, ['credential']);
  });

  it('a number that is part of a valid IBAN is not also a card, a NIR or a phone number', () => {
    exactly({ app: 'Numbers', text: `Vera Castillo\t${fullWidth('FR14 2004 1010 0505 0001 3M02 606')}\t84.20` }, ['bank_account']);
    exactly({ app: 'Numbers', text: `Jan Peeters\t${[...'BE68 5390 0754 7034'].join('\u200b')}\t1250.00` }, ['bank_account']);
    exactly({ app: 'Numbers', text: 'Vera Castillo\tGB51.NWBK.4617.1763.3650.32\t84.20' }, ['bank_account']);
    exactly({ app: 'ChatGPT', prompt: 'SEPA transfer to IBAN IT17.W214.8088.1903.3978.2817.853, amount 1,240.00 EUR.' }, ['bank_account']);
    exactly({ app: 'ChatGPT', prompt: 'IBAN IT22 S014 4022 016X 9DOR GHHC SLG, amount 1,240.00 EUR.' }, ['bank_account']);
  });

  it('keeps the cells of a pasted row apart and reads fifteen digits inside a card as no NIR', () => {
    exactly({ app: 'Microsoft Excel', text: 'Name\tSSN\tStart\nHugo Andersen\t424_59_3008\t2026-03-23' }, ['government_id']);
    exactly({ app: 'Notes', text: 'card 6204 7897 6559 5554 962 exp 11/33 cvv 709' }, ['payment_card']);
    assert.ok(classifier.classify({ app: 'Jira', text: 'QA: the form accepts 6290-8597-4975-2910-953 although the Luhn check should reject it' }).level < 3);
  });
});
