// Publishes over the native protocol from the Node `ws` client.
// Usage: node publisher.js URL CHANNEL COUNT
// Subscribes to CHANNEL (the default namespace lets subscribers publish),
// sends COUNT publish commands, several per frame, and prints
// {"offsets":[...], "events":[...offsets of the events it received]}.
'use strict';
const WebSocket = require('ws');

const [url, channel, countArg] = process.argv.slice(2);
const count = Number(countArg);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const ws = new WebSocket(url);
const offsets = new Map();
const events = [];

function finishIfDone() {
  if (offsets.size === count && events.length === count) {
    const ordered = [];
    for (let i = 0; i < count; i++) ordered.push(offsets.get(10 + i));
    out({ offsets: ordered, events, extensions: ws.extensions });
    ws.close(1000);
  }
}

ws.on('open', () => {
  ws.send(JSON.stringify({ id: 1, connect: {} }) + '\n' +
          JSON.stringify({ id: 2, subscribe: { channel } }));
});

ws.on('message', (data) => {
  for (const line of data.toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line);
    if (msg.error) { out({ error: msg }); process.exit(2); }
    if (msg.id === 2) {
      // Ten publishes per frame.
      for (let i = 0; i < count; i += 10) {
        const lines = [];
        for (let j = i; j < Math.min(count, i + 10); j++) {
          lines.push(JSON.stringify({ id: 10 + j, publish: {
            channel, eventType: 'node.event', version: 2, payload: { j, text: 'from node ✓' } } }));
        }
        ws.send(lines.join('\n'));
      }
    } else if (msg.id >= 10) {
      offsets.set(msg.id, msg.publish.offset);
      finishIfDone();
    } else if (msg.push && msg.push.event) {
      events.push(msg.push.event.offset);
      finishIfDone();
    }
  }
});

ws.on('close', () => process.exit(0));
ws.on('error', (err) => { out({ error: String(err) }); process.exit(3); });
