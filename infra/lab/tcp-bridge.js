// @ts-check
'use strict';
// qemu runs this once per guest connection to a forwarded service (guestfwd=...-cmd:...): the
// connection is this process's stdin and stdout, and it is joined to 127.0.0.1:PORT on the host.
// It lets a guest booted with a restricted user-mode network reach exactly the host services the
// lab names (Temporal, MinIO) and nothing else.
//
//   node tcp-bridge.js PORT
const net = require('node:net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`tcp-bridge: bad port ${process.argv[2]}\n`);
  process.exit(2);
}
const socket = net.connect({ host: '127.0.0.1', port });
socket.setNoDelay(true);
process.stdin.pipe(socket);
socket.pipe(process.stdout);
// Either side closing ends the bridge; qemu sees its end of the pipe close.
const end = () => process.exit(0);
socket.on('close', end);
socket.on('error', end);
process.stdin.on('error', end);
process.stdout.on('error', end);
