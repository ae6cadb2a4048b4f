// Round-trips text and binary messages through /echo with the Node `ws` client.
// Usage: node echo.js URL deflate|plain
// Prints {"ok":N,"extensions":"..."} or {"error":...}.
'use strict';
const crypto = require('crypto');
const WebSocket = require('ws');

const [url, mode] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const messages = [];
for (const size of [0, 1, 125, 126, 127, 1000, 65535, 65536, 300000]) {
  messages.push({ data: 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2), binary: false });
  messages.push({ data: crypto.randomBytes(size), binary: true });
}
messages.push({ data: 'compressible '.repeat(20000), binary: false });

const ws = new WebSocket(url, { perMessageDeflate: mode === 'deflate', maxPayload: 16 << 20 });
let i = 0;

ws.on('open', () => ws.send(messages[0].data, { binary: messages[0].binary }));

ws.on('message', (data, isBinary) => {
  const want = messages[i];
  const same = want.binary
    ? isBinary && Buffer.compare(data, want.data) === 0
    : !isBinary && data.toString('utf8') === want.data;
  if (!same) {
    out({ error: `message ${i} differs (binary=${want.binary}, got ${data.length} bytes)` });
    process.exit(2);
  }
  i += 1;
  if (i === messages.length) {
    out({ ok: i, extensions: ws.extensions });
    ws.close(1000);
    return;
  }
  ws.send(messages[i].data, { binary: messages[i].binary });
});

ws.on('close', (code) => { if (i !== messages.length) out({ close: code }); process.exit(0); });
ws.on('error', (err) => { out({ error: String(err) }); process.exit(3); });
