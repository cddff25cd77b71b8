// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
//
// Layout shared by sensor.bpf.c and the Go decoder (bpf/event.go); change
// both together.
#pragma once

#define CHUNK 4096      // most data bytes in one event
#define MAX_LOOP 65536  // bpf_loop iterations per call (chunks plus iovec loads)

// DATA: len bytes of a stream; CLOSE: the connection's four final offsets;
// EXEC: a struct meta of the process; CONN: a struct meta of the
// connection, sent before its first data record (per generation); MIRROR
// (no payload): the connection is the client end of a local connection
// whose server end is traced too, and its bytes are no longer copied.
enum { ST_KIND_DATA = 1, ST_KIND_CLOSE = 2, ST_KIND_EXEC = 3, ST_KIND_CONN = 4, ST_KIND_MIRROR = 5 };
enum { ST_DIR_EGRESS = 0, ST_DIR_INGRESS = 1 };
enum { ST_ROLE_UNKNOWN = 0, ST_ROLE_CLIENT = 1, ST_ROLE_SERVER = 2 };
enum { ST_FLAG_TLS = 1, ST_FLAG_LAST = 2 }; // LAST: the call's final chunk
enum { ST_FILTER_PID = 1, ST_FILTER_CGROUP = 2, ST_FILTER_COMM = 4, ST_FILTER_PORT = 8 };

enum {
	ST_STAT_EVENTS = 0,           // data events handed to the ring
	ST_STAT_BYTES,                // their data bytes
	ST_STAT_LOST_EVENTS,          // data events the full ring refused
	ST_STAT_LOST_BYTES,           // their data bytes
	ST_STAT_TRUNC_BYTES,          // bytes beyond max_chunks per call, never copied
	ST_STAT_UNREADABLE_BYTES,     // bytes user memory did not let us read
	ST_STAT_TLS_UNMAPPED_BYTES,   // TLS plaintext of an SSL object with no known socket
	ST_STAT_LOST_CONTROL,         // close and exec events the full ring refused
	ST_STAT_SKIPPED_BYTES,        // bytes sendfile/splice moved without a user buffer: never copied
	ST_STAT_ENCRYPTED_BYTES,      // TLS records of a connection already seen to carry TLS: not copied
	ST_STAT_MIRRORED_BYTES,       // bytes of a client end whose server end is traced too: not copied
	ST_STAT_MIRRORED_CONNS,       // client ends made mirrors
	ST_STAT_COUNT,
};

// event_hdr is 48 bytes; a record's len bytes follow it. Data records
// carry no process or address: those come once per connection in a CONN
// record (struct meta) before its first data record.
struct event_hdr {
	__u64 ts;     // bpf_ktime_get_ns (CLOCK_MONOTONIC)
	__u64 conn;   // struct sock address: the connection
	__u64 gen;    // connection generation (creation time)
	__u64 offset; // stream offset of the first data byte in its direction
	__u64 end;    // stream offset just past the call's last byte (bytes beyond the last chunk were not copied)
	__u32 len;    // bytes that follow
	__u8 kind, dir, flags, pad;
};

// meta is 72 bytes: who and where, the payload of CONN and EXEC records.
struct meta {
	__u64 cgroup; // cgroup v2 id of the task
	__u32 tgid;
	__u16 lport, rport; // host byte order
	__u8 family, role, pad[6];
	__u8 laddr[16], raddr[16];
	char comm[16];
};
