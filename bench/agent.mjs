// The capture agents' side of the wire, in a process of their own as they are in production: posts
// the batches it was handed over `connections` keep-alive connections and keeps none of the
// answers. Driven over IPC by the bench:
//   { id, load: bodies[] }                          -> { id, status: 200 }
//   { id, url, headers, connections, expect }       -> { id, status, error? }
import http from 'node:http';

let bodies = [];

function post(url, headers, body, agent) {
  return new Promise((resolve) => {
    const request = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': body.length }, agent }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString() }));
      response.on('error', (err) => resolve({ status: 0, body: err.message }));
    });
    request.on('error', (err) => resolve({ status: 0, body: err.message }));
    request.end(body);
  });
}

function acceptedIn(body) {
  try {
    return JSON.parse(body).accepted;
  } catch {
    return undefined;
  }
}

async function postAll(url, headers, connections, expect) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  let failure;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < bodies.length && !failure) {
        const { status, body } = await post(url, headers, bodies[next++], agent);
        if (status !== 200 || acceptedIn(body) !== expect) failure = { status, error: body.slice(0, 500) };
      }
    }),
  );
  agent.destroy();
  return failure ?? { status: 200 };
}

process.on('message', async ({ id, load, url, headers, connections, expect }) => {
  if (load) {
    bodies = load.map((text) => Buffer.from(text));
    process.send({ id, status: 200 });
    return;
  }
  process.send({ id, ...(await postAll(url, headers, connections, expect)) });
});
process.on('disconnect', () => process.exit(0));
