'use strict';
// The plain WebSocket peer for herald-bench (Node `ws` 8): every text frame a
// client sends is sent, unchanged, to every client connected on the same URL
// path (a room; plain "/" puts everyone in one room), the sender included.
//
//   node ws_server.js --port 8002 [--secret S]
//
// With --secret, the upgrade needs ?token=<HS256 JWT> signed with S.
const http = require('http');
const { WebSocketServer } = require('ws');
const { verifyHs256 } = require('./jwt');

function flag(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(flag('port', process.env.PORT || 8002));
const secret = flag('secret', '');

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end(req.url === '/health' ? '{"status":"ok"}' : '{}');
});

const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  verifyClient: secret
    ? (info) => verifyHs256(new URL(info.req.url, 'http://x').searchParams.get('token'), secret) !== null
    : undefined,
});

const rooms = new Map();

wss.on('connection', (ws, req) => {
  const room = req.url.split('?')[0];
  let members = rooms.get(room);
  if (!members) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const client of members) client.send(data, { binary: isBinary });
  });
  ws.on('close', () => {
    members.delete(ws);
    if (members.size === 0) rooms.delete(room);
  });
  ws.on('error', () => {});
});

server.listen(port, '127.0.0.1', () => console.log(`ws peer listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
