#!/usr/bin/env python3
"""Issue 17's memory figure: N short-lived WebSockets to random project ids against a running
`automl serve`, and the server's RSS before and after (loopback only, bounded, stops by itself).

    automl serve --port 8799 --data-dir /tmp/ghosts & python3 bench/ghosts/ghosts.py --port 8799 --pid $!

Each socket does the upgrade handshake, waits `--hold` seconds, and goes away without a close
frame (as a closed browser tab does). Prints RSS (MiB) before, right after, and 5 s after.
"""
import argparse, base64, os, random, socket, threading, time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ghost(port, pid_id, hold):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (f"GET /ws/projects/{pid_id}?since=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
         f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
         f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    s.recv(4096)
    time.sleep(hold)
    s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--parallel", type=int, default=50)
    ap.add_argument("--hold", type=float, default=0.2)
    a = ap.parse_args()
    before = rss_mib(a.pid)
    t0 = time.time()
    for start in range(0, a.n, a.parallel):
        ts = [threading.Thread(target=ghost, args=(a.port, f"g{random.getrandbits(64):016x}", a.hold))
              for _ in range(min(a.parallel, a.n - start))]
        for t in ts: t.start()
        for t in ts: t.join()
    after = rss_mib(a.pid)
    time.sleep(5)
    later = rss_mib(a.pid)
    print(f"{a.n} sockets to random ids in {time.time() - t0:.1f} s: RSS {before:.1f} MiB before, "
          f"{after:.1f} MiB after, {later:.1f} MiB 5 s later")


if __name__ == "__main__":
    main()
