// The training job's side of the wire, in its own process as it is in production: reads an NDJSON
// stream over HTTP, counts lines and bytes, keeps none of them. Driven over IPC by the bench:
//   { id, url, headers } -> { id, status, records, bytes, error? }
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true });

function drain(url, headers) {
  return new Promise((resolve) => {
    const request = http.get(url, { headers, agent }, (response) => {
      let records = 0;
      let bytes = 0;
      const chunks = [];
      response.on('data', (chunk) => {
        bytes += chunk.length;
        if (response.statusCode !== 200) chunks.push(chunk);
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) records++;
      });
      response.on('end', () => resolve({ status: response.statusCode, records, bytes, ...(response.statusCode !== 200 ? { error: Buffer.concat(chunks).toString() } : {}) }));
      response.on('error', (err) => resolve({ status: 0, records, bytes, error: err.message }));
    });
    request.on('error', (err) => resolve({ status: 0, records: 0, bytes: 0, error: err.message }));
  });
}

process.on('message', async ({ id, url, headers }) => {
  process.send({ id, ...(await drain(url, headers)) });
});
process.on('disconnect', () => process.exit(0));
