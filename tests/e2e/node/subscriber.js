// Native-protocol subscriber on the Node `ws` client, driven by test_node_clients.py.
// Usage: node subscriber.js URL CHANNEL COUNT [deflate|plain]
// Prints one JSON object per line: {"ready":...} after the subscribe reply,
// {"event":...} per event, then {"done":true} after COUNT events, or
// {"close":code,"reason":...} if the server closes first, {"error":...} on failure.
'use strict';
const WebSocket = require('ws');

const [url, channel, countArg, mode] = process.argv.slice(2);
const count = Number(countArg);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const ws = new WebSocket(url, { perMessageDeflate: mode !== 'plain' });
let received = 0;
let done = false;
let connectReply = null;

ws.on('open', () => {
  ws.send(JSON.stringify({ id: 1, connect: {} }) + '\n' +
          JSON.stringify({ id: 2, subscribe: { channel } }));
});

ws.on('message', (data, isBinary) => {
  if (isBinary) {
    out({ error: 'binary frame from the native protocol' });
    process.exit(2);
  }
  for (const line of data.toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line);
    if (msg.id === 1) {
      if (msg.error) { out({ error: msg }); process.exit(2); }
      connectReply = msg.connect;
    }
    if (msg.id === 2) {
      if (msg.error) { out({ error: msg }); process.exit(2); }
      out({ ready: true, extensions: ws.extensions, connect: connectReply, subscribe: msg.subscribe });
    } else if (msg.push && msg.push.event && msg.push.channel === channel) {
      out({ event: msg.push.event });
      received += 1;
      if (received === count && count > 0) {
        done = true;
        out({ done: true });
        ws.close(1000);
      }
    } else if (msg.push && msg.push.disconnect) {
      out({ disconnect: msg.push.disconnect });
    }
  }
});

ws.on('close', (code, reason) => {
  if (!done) out({ close: code, reason: reason.toString() });
  process.exit(0);
});

ws.on('error', (err) => {
  out({ error: String(err) });
  process.exit(3);
});
