// Package bpf is the host sensor: eBPF programs that copy the bytes local
// processes move through TCP sockets and through OpenSSL, their loader, and
// the ring-buffer reader that hands ordered byte streams per connection to
// reassembly.StreamConn, so they meet the packet path's HTTP parsers.
//
// Kernel side (c/sensor.bpf.c, built with bpf2go; the objects are
// committed): syscall exit tracepoints on read, write, readv, writev,
// recvfrom, sendto, recvmsg and sendmsg (arguments from the saved user
// registers) copy exactly the bytes the call moved, in chunks of at most
// 4 KiB written straight into the ring, after an fd-table walk has found a
// TCP socket; accept and connect say which side the process is;
// sock:inet_sock_set_state (TCP_CLOSE) ends a connection with its final
// offsets; uprobes on SSL_read, SSL_write and their _ex variants copy TLS
// plaintext, tied to the socket that the SSL call's own syscall touched.
// Every chunk carries its byte offset in its direction, so what the ring
// could not take or the per-call cap cut becomes a gap the parsers see, and
// counters say how many bytes each cause cost (Stats). Who and where (pid,
// command, cgroup, addresses, role) come once per connection in a CONN
// record before its first data record, not in every chunk.
//
// User side: Open probes the fallback ladder (full, syscalls only,
// ErrUnsupported for packet capture); Run reads records, rebuilds each
// connection's streams (roles from accept/connect, else guessed from the
// first bytes), and emits transactions with Process, Container (from the
// cgroup v2 path) and TLS set. The reader is injectable (EventReader), so
// the reassembly of records is tested without a kernel.
package bpf
