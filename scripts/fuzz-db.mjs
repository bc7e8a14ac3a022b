// For scripts/fuzz.sh: `create SERVER_URL` makes an empty scratch database on that PostgreSQL server
// and prints its URL; `drop SERVER_URL DATABASE_URL` removes it. The fuzz run's roster, records and audit
// events never land in a database anyone else uses.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const [command, server, scratch] = process.argv.slice(2);
if (!server || !(command === 'create' || (command === 'drop' && scratch))) {
  process.stderr.write('usage: fuzz-db.mjs create SERVER_URL | drop SERVER_URL DATABASE_URL\n');
  process.exit(2);
}

async function admin(serverUrl, statement) {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

if (command === 'create') {
  const name = `vault_fuzz_${randomBytes(6).toString('hex')}`;
  await admin(server, `create database ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  process.stdout.write(`${url}\n`);
} else {
  const name = new URL(scratch).pathname.slice(1);
  if (!/^vault_fuzz_[0-9a-f]{12}$/.test(name)) throw new Error('fuzz-db.mjs drops only the scratch databases it creates');
  // An autovacuum worker in the database makes WITH (FORCE) refuse (42501) for a moment: wait for it.
  for (let attempt = 1; ; attempt++) {
    try {
      await admin(server, `drop database if exists ${name} with (force)`);
      break;
    } catch (err) {
      if (err.code !== '42501' || attempt >= 20) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
