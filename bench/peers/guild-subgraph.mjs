// One subgraph of The Guild's scenario, fast enough never to be the bench's bottleneck.
// Usage: node guild-subgraph.mjs NAME PORT ORIGIN_URL
//
// ORIGIN_URL is the same subgraph served by `python -m bench.guild NAME` (ariadne over
// graphql-core): the one implementation of the schema, data and resolvers, so answers
// cannot drift from bench/guild.py. The data never changes, so an answer is a pure
// function of the request body: the first request with a body is executed by the
// origin (identical concurrent first requests share that one execution), and every
// later one is answered from memory by this process.
//
// The server speaks HTTP/1.1 over `node:net` itself (keep-alive, pipelining,
// Content-Length or chunked request bodies): `node:http` costs several times more CPU
// per request, and the subgraphs share one core with wrk while the fastest gateways
// send them tens of thousands of requests a second.
// GET /count answers {"requests", "misses"}: the bench reads it around each
// measurement (misses must stay flat while timing).
import net from "node:net";

const [name, port, origin] = process.argv.slice(2);
if (!name || !port || !origin) {
  console.error("usage: node guild-subgraph.mjs NAME PORT ORIGIN_URL");
  process.exit(2);
}
const MAX_MEMO = 100_000;
const MAX_REQUEST = 16 * 1024 * 1024;
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*([^\r]*)/i;
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/i;
const memo = new Map(); // body -> complete HTTP response bytes
const pending = new Map(); // body -> Promise of complete HTTP response bytes
let requests = 0;
let misses = 0;

function response(status, reason, body) {
  const head = Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\n\r\n`,
  );
  return Buffer.concat([head, body]);
}

async function execute(body) {
  misses += 1;
  const answer = await fetch(origin, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body,
  });
  const bytes = Buffer.from(await answer.arrayBuffer());
  if (answer.status !== 200) {
    throw new Error(`origin answered ${answer.status}: ${bytes.toString().slice(0, 200)}`);
  }
  const whole = response(200, "OK", bytes);
  if (memo.size < MAX_MEMO) memo.set(body, whole);
  return whole;
}

function answerFor(body) {
  requests += 1;
  const hit = memo.get(body);
  if (hit !== undefined) return hit;
  let promise = pending.get(body);
  if (promise === undefined) {
    promise = execute(body).finally(() => pending.delete(body));
    pending.set(body, promise);
  }
  return promise.catch((error) => {
    const reason = error.cause ? `${error.message}: ${error.cause.message}` : error.message;
    console.error(`${name}: ${reason}`);
    const message = JSON.stringify({ errors: [{ message: `origin: ${reason}` }] });
    return response(502, "Bad Gateway", Buffer.from(message));
  });
}

// One parsed request from the front of `buffer`: {consumed, method, path, body}, or
// null when more bytes are needed; throws on a malformed request.
function parse(buffer) {
  const end = buffer.indexOf("\r\n\r\n");
  if (end === -1) {
    if (buffer.length > 64 * 1024) throw new Error("request head too large");
    return null;
  }
  const head = buffer.toString("latin1", 0, end);
  const space = head.indexOf(" ");
  const method = head.slice(0, space);
  const path = head.slice(space + 1, head.indexOf(" ", space + 1));
  const lengthField = CONTENT_LENGTH.exec(head);
  const length = lengthField === null ? 0 : Number(lengthField[1].trim() || NaN);
  const chunked = CHUNKED.test(head);
  if (!Number.isInteger(length) || length < 0 || length > MAX_REQUEST) {
    throw new Error("bad content-length");
  }
  const start = end + 4;
  if (!chunked) {
    if (buffer.length < start + length) return null;
    return {
      consumed: start + length,
      method,
      path,
      body: buffer.toString("utf8", start, start + length),
    };
  }
  const parts = [];
  let at = start;
  for (;;) {
    const eol = buffer.indexOf("\r\n", at);
    if (eol === -1) return null;
    const size = parseInt(buffer.toString("latin1", at, eol), 16);
    if (!Number.isInteger(size) || size < 0 || size > MAX_REQUEST) {
      throw new Error("bad chunk size");
    }
    if (size === 0) {
      // The last chunk: an empty line, or trailer fields and then an empty line.
      if (buffer.length < eol + 4) return null;
      let done = eol + 4;
      if (buffer.toString("latin1", eol + 2, eol + 4) !== "\r\n") {
        const trailers = buffer.indexOf("\r\n\r\n", eol + 2);
        if (trailers === -1) return null;
        done = trailers + 4;
      }
      return { consumed: done, method, path, body: Buffer.concat(parts).toString("utf8") };
    }
    if (buffer.length < eol + 2 + size + 2) return null;
    parts.push(buffer.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let buffer = Buffer.alloc(0);
  // Answers go out in request order, even when an earlier one waits for the origin.
  let queue = Promise.resolve();
  let waiting = 0;
  socket.on("data", (data) => {
    buffer = buffer.length === 0 ? data : Buffer.concat([buffer, data]);
    for (;;) {
      let request;
      try {
        request = parse(buffer);
      } catch (error) {
        socket.end(response(400, "Bad Request", Buffer.from(`{"errors":[{"message":"${error.message}"}]}`)));
        buffer = Buffer.alloc(0);
        return;
      }
      if (request === null) return;
      buffer = buffer.subarray(request.consumed);
      let out;
      if (request.method === "GET" && request.path === "/count") {
        out = response(200, "OK", Buffer.from(JSON.stringify({ requests, misses })));
      } else if (request.method !== "POST") {
        out = response(405, "Method Not Allowed", Buffer.from('{"errors":[{"message":"POST a GraphQL request"}]}'));
      } else {
        out = answerFor(request.body);
      }
      if (waiting === 0 && Buffer.isBuffer(out)) {
        socket.write(out);
      } else {
        waiting += 1;
        const ready = Promise.resolve(out);
        queue = queue.then(async () => {
          socket.write(await ready);
          waiting -= 1;
        });
      }
    }
  });
  socket.on("error", () => socket.destroy());
});
server.listen(Number(port), "127.0.0.1", () => {
  console.error(`guild subgraph ${name} on http://127.0.0.1:${port}/graphql (origin ${origin})`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close();
    process.exit(0);
  });
}
