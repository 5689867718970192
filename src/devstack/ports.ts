/**
 * Is a loopback port free, and if not, who holds it? Used before starting a component, so that
 * a port taken by something else is reported by name instead of as a crash in a log file.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';

export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * Socket inodes listening on a TCP port, from /proc/net/tcp{,6} text (any local address).
 * Lines look like: "0: 0100007F:1C91 00000000:0000 0A ... <uid> <timeout> <inode> ...".
 */
export function parseListeningInodes(procNetTcp: string, port: number): number[] {
  const inodes: number[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const localPort = Number.parseInt(f[1].split(':').pop() ?? '', 16);
    // State 0A is TCP_LISTEN.
    if (localPort === port && f[3] === '0A') {
      const inode = Number(f[9]);
      if (inode > 0) inodes.push(inode);
    }
  }
  return inodes;
}

/** The process holding a listening socket on the port, if /proc lets us see it. */
export async function findPortOwner(port: number): Promise<{ pid: number; comm: string } | null> {
  const inodes = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const inode of parseListeningInodes(await fs.readFile(file, 'utf8'), port)) inodes.add(inode);
    } catch {
      /* no IPv6, or no /proc */
    }
  }
  if (inodes.size === 0) return null;
  const targets = new Set([...inodes].map((i) => `socket:[${i}]`));
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = await fs.readdir(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (targets.has(await fs.readlink(`/proc/${entry}/fd/${fd}`))) {
          const comm = (await fs.readFile(`/proc/${entry}/comm`, 'utf8')).trim();
          return { pid: Number(entry), comm };
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return null;
}
