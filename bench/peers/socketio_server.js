'use strict';
// The Socket.IO peer for herald-bench (Socket.IO 4.8, WebSocket transport
// only). A client joins the room named by its `room` query parameter, as the
// Socket.IO chat examples do; `emit("pub", room, data)` broadcasts
// `emit("ev", data)` to everyone in that room, the sender included.
//
//   node socketio_server.js --port 8001 [--secret S]
//
// With --secret, the namespace connect needs auth {token: <HS256 JWT>}.
const http = require('http');
const { Server } = require('socket.io');
const { verifyHs256 } = require('./jwt');

function flag(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(flag('port', process.env.PORT || 8001));
const secret = flag('secret', '');

const io = new Server({
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
});

if (secret) {
  io.use((socket, next) => {
    const claims = verifyHs256(socket.handshake.auth && socket.handshake.auth.token, secret);
    next(claims ? undefined : new Error('unauthorized'));
  });
}

io.on('connection', (socket) => {
  const room = socket.handshake.query.room;
  if (typeof room === 'string' && room.length > 0) socket.join(room);
  socket.on('pub', (target, data) => {
    io.to(String(target)).emit('ev', data);
  });
});

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end(req.url === '/health' ? '{"status":"ok"}' : '{}');
});
io.attach(server);
server.listen(port, '127.0.0.1', () => console.log(`socket.io peer listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
