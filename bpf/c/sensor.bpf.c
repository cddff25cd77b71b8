// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
//
// shadowtap host sensor: the bytes local processes move through TCP sockets
// (syscall tracepoints) and through OpenSSL (uprobes), copied at the moment
// the kernel or the library reports how many bytes moved, and handed to user
// space through one ring buffer in chunks of at most CHUNK bytes. Every
// chunk carries its byte offset in its direction of its connection, so bytes
// this program could not hand on (ring full, per-call cap) show up in user
// space as gaps; the stats map counts them.
//
// Hooks: tracepoints and uprobes only (the kernels we target have neither
// kprobes nor fentry). Kernel structures are read with CO-RE against the
// checked-in vmlinux.h.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "sensor.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define EINPROGRESS 115
#define TCP_CLOSE 7

// Set by the loader before the programs are loaded.
volatile const __u32 self_tgid = 0;   // the sensor's own process: never traced
volatile const __u32 filter_mask = 0; // FILTER_* bits: which filter maps apply
// Wake the reader only once this much data waits in the ring (user space
// also polls every few milliseconds): one wakeup per record would cost more
// than the copy.
volatile const __u64 wakeup_bytes = 65536;

// 1: report a local connection from both ends; 0: only from its server's
// socket when both are traced (mirror_check).
volatile const __u32 both_ends = 0;

// Not const: a constant bound would make the verifier walk every bpf_loop
// iteration instead of proving the callback once.
__u32 max_chunks = 64; // chunks copied per call; the rest is truncation

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); // resized by the loader
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

// Per-connection state, keyed by the kernel's struct sock address.
struct conn {
	__u64 gen;    // creation time: tells a reused sock address apart
	__u64 off[4]; // ST_DIR_EGRESS, ST_DIR_INGRESS, then the same for TLS plaintext
	// Addresses and role from creation; pid, cgroup and command of the
	// task that moved its first bytes, filled when the CONN record is
	// sent (user space reads them here when it has forgotten the
	// connection: bpf/load_linux.go's connMeta).
	struct meta m;
	__u8 tls, ignored;
	__u8 announced; // the CONN record of this generation is in the ring
	// The first bytes in a direction were a TLS handshake record and no
	// OpenSSL call has claimed the socket (Go's crypto/tls, Java, a
	// statically linked library): user space skips such a stream after its
	// first record, so the rest of its records are not copied at all.
	__u8 opaque;
	// mirror: the client end of a local connection whose server end is
	// traced too; its bytes are not copied (mirror_check). checks: times
	// mirror_check looked for the server end.
	__u8 mirror, checks;
	// guesses: data calls guess_role looked at (a connection that
	// predates the sensor).
	__u8 guesses;
	__u8 pad;
	__u64 netns; // struct net address: a tuple is unique only per network namespace
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

// The server ends of traced connections by their addresses, so that the
// client end of a local connection finds its peer (mirror_check).
// Addresses are IPv6, IPv4 as v4-mapped (an AF_INET6 client may talk to an
// AF_INET server).
struct tuple {
	__u8 laddr[16], raddr[16];
	__u16 lport, rport;
	__u32 pad;
	__u64 netns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tuple);
	__type(value, __u64); // struct sock address: the conns key
} tuples SEC(".maps");

// The OpenSSL call a thread has in flight, in task-local storage (one per
// thread, freed with it): cheaper than a hash keyed by pid_tgid, and nothing
// to delete. ssl is 0 when none is; the socket syscalls made meanwhile are
// TLS records.
struct call {
	__u64 ssl;
	__u64 buf;
	__u64 nptr; // size_t *written / *readbytes of the _ex variants, else 0
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call);
} calls SEC(".maps");

// SSL object -> struct sock, learnt from the socket syscall an SSL call makes.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} sslsock SEC(".maps");

// Filters (filter_mask says which apply). Values are ignored.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} filter_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} filter_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[16]);
	__type(value, __u8);
} filter_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} filter_ports SEC(".maps");

#ifndef ST_NO_KFUNC
// bpf_rdonly_cast (kernel >= 6.2) turns a kernel address into a typed
// pointer whose fields load directly (faulting loads read as zero), instead
// of one bpf_probe_read_kernel helper call per hop; the verifier inlines it.
// The sensorcompat objects are built with ST_NO_KFUNC for older kernels.
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define CAST(T, p) ((T *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(T)))
#endif

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void count(__u32 i, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &i);
	if (v)
		*v += n;
}

// want_task says whether the current task is traced at all.
static __always_inline int want_task(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_tgid)
		return 0;
	if (filter_mask & ST_FILTER_PID) {
		if (!bpf_map_lookup_elem(&filter_pids, &tgid))
			return 0;
	}
	if (filter_mask & ST_FILTER_CGROUP) {
		__u64 cg = bpf_get_current_cgroup_id();
		if (!bpf_map_lookup_elem(&filter_cgroups, &cg))
			return 0;
	}
	if (filter_mask & ST_FILTER_COMM) {
		char comm[16] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&filter_comms, comm))
			return 0;
	}
	return 1;
}

#ifndef ST_NO_KFUNC
// fd_sock returns the TCP sock behind the current task's fd, or 0 when the
// fd is no IPv4/IPv6 TCP socket (files, pipes, UNIX and UDP sockets). The
// walk task→files→fdt→file→inode/socket→sock is direct loads but for the
// fd array slot (one bpf_probe_read_kernel): nothing to cache, nothing to
// invalidate when an fd is closed, duplicated over or closed at exec.
static __always_inline __u64 fd_sock(__u32 fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	if (fd >= fdt->max_fds)
		return 0;
	// The fd slot read as the first word of a callback_head (any kernel
	// type with a pointer at offset 0 would do): a direct load, not a
	// probe-read helper call.
	struct callback_head *slot = CAST(struct callback_head, (__u64)fdt->fd + (__u64)fd * sizeof(void *));
	struct file *f = CAST(struct file, slot->next);
	if (!f)
		return 0;
	if ((f->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *so = CAST(struct socket, f->private_data);
	struct sock *sk = so->sk;
	if (!sk)
		return 0;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return (__u64)sk;
}
#else
// Without kfuncs: the same walk with one probe read per hop.
static __always_inline __u64 fd_sock(__u32 fd)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return 0;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so)
		return 0;
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (BPF_CORE_READ(sk, sk_type) != SOCK_STREAM || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return (__u64)sk;
}
#endif

static __always_inline int port_wanted(__u16 lport, __u16 rport)
{
	if (!(filter_mask & ST_FILTER_PORT))
		return 1;
	return bpf_map_lookup_elem(&filter_ports, &lport) || bpf_map_lookup_elem(&filter_ports, &rport);
}

// sk_port_wanted applies the port filter to a sock (direct loads).
static __always_inline int sk_port_wanted(__u64 skp)
{
	if (!(filter_mask & ST_FILTER_PORT))
		return 1;
#ifndef ST_NO_KFUNC
	struct sock *sk = CAST(struct sock, skp);
	return port_wanted(sk->__sk_common.skc_num, bpf_ntohs(sk->__sk_common.skc_dport));
#else
	struct sock *sk = (struct sock *)skp;
	return port_wanted(BPF_CORE_READ(sk, __sk_common.skc_num), bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)));
#endif
}

static __always_inline struct call *task_call(int create)
{
	return bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

// tuple_of fills t with c's addresses, swapped when reversed (the key the
// other end of the connection has).
static __always_inline void tuple_of(struct tuple *t, const struct conn *c, int reversed)
{
	__builtin_memset(t, 0, sizeof(*t));
	const __u8 *l = c->m.laddr, *r = c->m.raddr;
	if (reversed) {
		l = c->m.raddr;
		r = c->m.laddr;
		t->lport = c->m.rport;
		t->rport = c->m.lport;
	} else {
		t->lport = c->m.lport;
		t->rport = c->m.rport;
	}
	if (c->m.family == AF_INET) {
		t->laddr[10] = t->laddr[11] = t->raddr[10] = t->raddr[11] = 0xff;
		__builtin_memcpy(&t->laddr[12], l, 4);
		__builtin_memcpy(&t->raddr[12], r, 4);
	} else {
		__builtin_memcpy(t->laddr, l, 16);
		__builtin_memcpy(t->raddr, r, 16);
	}
	t->netns = c->netns;
}

// add_server enters a server end into the tuples map.
static __always_inline void add_server(__u64 key, const struct conn *c)
{
	if (both_ends)
		return;
	struct tuple t;
	tuple_of(&t, c, 0);
	bpf_map_update_elem(&tuples, &t, &key, BPF_ANY);
}

// conn_new starts sk's state with a fresh generation (accept and connect
// start a new connection; the first bytes of one that predates the sensor
// do too).
static __always_inline struct conn *conn_new(__u64 key, __u8 role)
{
	struct sock *sk = (struct sock *)key;
	struct conn n = {};
	n.gen = bpf_ktime_get_ns();
	n.m.role = role;
	n.m.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n.m.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	n.m.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (n.m.family == AF_INET) {
		BPF_CORE_READ_INTO(&n.m.laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&n.m.raddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&n.m.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&n.m.raddr, sk, __sk_common.skc_v6_daddr);
	}
	n.ignored = !port_wanted(n.m.lport, n.m.rport);
	n.netns = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net);
	bpf_map_update_elem(&conns, &key, &n, BPF_ANY);
	if (role == ST_ROLE_SERVER && !n.ignored)
		add_server(key, &n);
	return bpf_map_lookup_elem(&conns, &key);
}

// guess_role gives a connection first seen through its bytes (it predates
// the sensor: no accept or connect was seen) the role its bytes show, so
// that a local one is paired too (mirror_check): a request going out or a
// response coming in makes a client, the other way round a server. It
// looks at the first bytes of up to GUESS_CALLS calls (a connection picked
// up inside a body shows no message start at first).
#define GUESS_CALLS 8
static __always_inline void guess_role(__u64 sk, struct conn *c, __u64 buf, __u64 n, __u8 dir)
{
	if (both_ends || c->m.role != ST_ROLE_UNKNOWN || c->guesses >= GUESS_CALLS || n < 5)
		return;
	c->guesses++;
	char h[5];
	if (bpf_probe_read_user(h, sizeof(h), (void *)buf))
		return;
	int resp = h[0] == 'H' && h[1] == 'T' && h[2] == 'T' && h[3] == 'P' && h[4] == '/';
	int req = (h[0] == 'G' && h[1] == 'E' && h[2] == 'T' && h[3] == ' ') ||
		  (h[0] == 'P' && (h[1] == 'O' || h[1] == 'U' || h[1] == 'A' || h[1] == 'R')) ||
		  (h[0] == 'H' && h[1] == 'E' && h[2] == 'A' && h[3] == 'D') ||
		  (h[0] == 'D' && h[1] == 'E' && h[2] == 'L') || (h[0] == 'O' && h[1] == 'P' && h[2] == 'T');
	if (!req && !resp)
		return;
	c->m.role = (req == (dir == ST_DIR_EGRESS)) ? ST_ROLE_CLIENT : ST_ROLE_SERVER;
	if (c->m.role == ST_ROLE_SERVER)
		add_server(sk, c);
}

// conn_get returns sk's state when it is known or its ports are wanted
// (one lookup for a known connection: the port filter was applied when
// it was created).
static __always_inline struct conn *conn_get(__u64 key)
{
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (c)
		return c;
	if (!sk_port_wanted(key))
		return 0;
	return conn_new(key, 0);
}

// ctl_hdr fills the header of a record that is not a stream's data (CONN,
// MIRROR, CLOSE, or the empty record of skipped bytes): now, sk's
// generation gen, kind, len payload bytes, no offsets, direction or flags.
static __always_inline void ctl_hdr(struct event_hdr *e, __u64 sk, __u64 gen, __u8 kind, __u32 len)
{
	e->ts = bpf_ktime_get_ns();
	e->conn = sk;
	e->gen = gen;
	e->offset = 0;
	e->end = 0;
	e->len = len;
	e->kind = kind;
	e->dir = 0;
	e->flags = 0;
	e->pad = 0;
}

// announce sends the connection's CONN record (addresses, role, and the
// current task's pid, cgroup and command) before its first data record.
// When the ring refuses it, the next call tries again.
static __always_inline void announce(__u64 sk, struct conn *c)
{
	if (c->announced)
		return;
	// Into the table first: user space reads them there when the ring
	// refuses the record (connMeta in load_linux.go).
	c->m.tgid = bpf_get_current_pid_tgid() >> 32;
	c->m.cgroup = bpf_get_current_cgroup_id();
	bpf_get_current_comm(c->m.comm, sizeof(c->m.comm));
	struct event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(struct meta), 0);
	if (!e) {
		count(ST_STAT_LOST_CONTROL, 1);
		return;
	}
	ctl_hdr(e, sk, c->gen, ST_KIND_CONN, sizeof(struct meta));
	__builtin_memcpy((void *)(e + 1), &c->m, sizeof(c->m));
	bpf_ringbuf_submit(e, rb_flags());
	c->announced = 1;
}

// mirror_check makes c a mirror when it is the client end of a local
// connection whose server end this sensor traces too and already copies in
// plaintext: the two ends move the same bytes, so the client's are no
// longer copied and user space drops its view (MIRROR record; the
// server's socket, which names the process serving the endpoint, is the
// one reported). It looks on a client's first MIRROR_CHECKS data calls
// only: the server has read the request by the time the client reads the
// response, so a local peer is found by the second call, and a client of
// a remote server pays one map lookup per call for a few calls.
#define MIRROR_CHECKS 4
static __always_inline int mirror_check(__u64 sk, struct conn *c)
{
	if (both_ends || c->m.role != ST_ROLE_CLIENT || c->checks >= MIRROR_CHECKS)
		return 0;
	c->checks++;
	struct tuple t;
	tuple_of(&t, c, 1);
	__u64 *pk = bpf_map_lookup_elem(&tuples, &t);
	if (!pk)
		return 0;
	__u64 peer = *pk;
	struct conn *p = bpf_map_lookup_elem(&conns, &peer);
	if (!p || p->m.role != ST_ROLE_SERVER || p->ignored || p->netns != c->netns ||
	    p->m.lport != c->m.rport || p->m.rport != c->m.lport)
		return 0;
	// The server end's bytes are copied: TLS plaintext from OpenSSL, or
	// plaintext syscalls.
	if (!(p->off[2] | p->off[3]) && (p->tls || p->opaque || !(p->off[0] | p->off[1])))
		return 0;
	if (c->announced) {
		struct event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			// Copy on and try again on the next call.
			count(ST_STAT_LOST_CONTROL, 1);
			c->checks--;
			return 0;
		}
		ctl_hdr(e, sk, c->gen, ST_KIND_MIRROR, 0);
		bpf_ringbuf_submit(e, rb_flags());
	}
	c->mirror = 1;
	count(ST_STAT_MIRRORED_CONNS, 1);
	return 1;
}

// copier walks the bytes one call moved (a buffer or an iovec array) and
// hands them to the ring in chunks.
struct copier {
	__u64 base, left_in_seg; // current segment
	__u64 iov;               // next struct iovec (user address), 0 for a plain buffer
	__u64 iovcnt;
	__u64 remaining; // bytes of the call not yet handed on
	__u64 off;       // stream offset of the next byte
	__u64 end;       // stream offset past the call's last byte
	__u64 sk, gen, ts;
	__u32 chunks;
	__u8 dir, flags, pad[2];
};

// data_hdr fills the header of a DATA record of n bytes at the copier's
// current offset.
static __always_inline void data_hdr(struct event_hdr *e, const struct copier *cp, __u64 n, __u8 flags)
{
	e->ts = cp->ts;
	e->conn = cp->sk;
	e->gen = cp->gen;
	e->offset = cp->off;
	e->end = cp->end;
	e->len = n;
	e->kind = ST_KIND_DATA;
	e->dir = cp->dir;
	e->flags = cp->flags | flags;
	e->pad = 0;
}

// put_chunk copies n (<= cap) bytes at base straight from user memory
// into a ring record reserved with room for cap: no scratch buffer and no
// second copy. cap is a constant per call site (the ring needs one), so a
// 100-byte write takes a 128-byte slot, not a 4 KiB one.
static __always_inline void put_chunk(struct copier *cp, __u64 base, __u64 n, __u8 flags, const __u32 cap)
{
	struct event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(struct event_hdr) + cap, 0);
	if (!e) {
		count(ST_STAT_LOST_EVENTS, 1);
		count(ST_STAT_LOST_BYTES, n);
		return;
	}
	data_hdr(e, cp, n, flags);
	__u64 m = n;
	barrier_var(m);
	if (m > cap)
		m = cap;
	if (bpf_probe_read_user((void *)(e + 1), m, (void *)base)) {
		// Not readable (paged out): the bytes become a gap.
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		count(ST_STAT_UNREADABLE_BYTES, n);
		return;
	}
	bpf_ringbuf_submit(e, rb_flags());
	count(ST_STAT_EVENTS, 1);
	count(ST_STAT_BYTES, n);
}

// put_sized picks the size class for n bytes.
static __always_inline void put_sized(struct copier *cp, __u64 base, __u64 n, __u8 flags)
{
	if (n <= 128)
		put_chunk(cp, base, n, flags, 128);
	else if (n <= 512)
		put_chunk(cp, base, n, flags, 512);
	else if (n <= 1536)
		put_chunk(cp, base, n, flags, 1536);
	else
		put_chunk(cp, base, n, flags, CHUNK);
}

static long copy_chunk(__u64 i, struct copier *cp)
{
	if (cp->remaining == 0 || cp->chunks >= max_chunks)
		return 1;
	if (cp->left_in_seg == 0) {
		if (cp->iovcnt == 0)
			return 1;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)cp->iov))
			return 1;
		cp->iov += sizeof(v);
		cp->iovcnt--;
		cp->base = (__u64)v.iov_base;
		cp->left_in_seg = v.iov_len;
		return 0;
	}
	__u64 n = cp->left_in_seg;
	if (n > cp->remaining)
		n = cp->remaining;
	if (n > CHUNK)
		n = CHUNK;
	__u8 flags = 0;
	if (n == cp->remaining || cp->chunks + 1 >= max_chunks || (n == cp->left_in_seg && cp->iovcnt == 0))
		flags = ST_FLAG_LAST;
	put_sized(cp, cp->base, n, flags);
	cp->chunks++;
	cp->base += n;
	cp->left_in_seg -= n;
	cp->remaining -= n;
	cp->off += n;
	return 0;
}

// IOV_JOIN: a call through at most this many iovecs that moved at most
// CHUNK bytes goes in one record (writev of a response's head and body,
// readv into two buffers), not one record per iovec.
#define IOV_JOIN 4

// put_iov_sized copies the n (<= cap) bytes a call moved through the
// iovecs loaded in v (cnt of them, cnt <= IOV_JOIN) into one record. The
// record is reserved with room for 2 * cap: each segment lands at
// pos < cap with at most cap bytes, which the verifier can check without
// relating pos to the length. It returns 0 when the iovecs do not hold n
// bytes (nothing reserved is left behind: the caller walks them chunk by
// chunk instead).
static __always_inline int put_iov_sized(struct copier *cp, struct iovec *v, __u64 cnt, __u64 n, const __u32 cap)
{
	struct event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(struct event_hdr) + 2 * cap, 0);
	if (!e) {
		count(ST_STAT_LOST_EVENTS, 1);
		count(ST_STAT_LOST_BYTES, n);
		return 1;
	}
	__u64 pos = 0;
#pragma unroll
	for (int i = 0; i < IOV_JOIN; i++) {
		if (i >= cnt || pos >= n)
			break;
		__u64 l = v[i].iov_len;
		if (l > n - pos)
			l = n - pos;
		__u64 at = pos;
		barrier_var(at);
		if (at >= cap)
			break;
		barrier_var(l);
		if (l > cap)
			l = cap;
		if (l && bpf_probe_read_user((void *)(e + 1) + at, l, v[i].iov_base)) {
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
			count(ST_STAT_UNREADABLE_BYTES, n);
			return 1;
		}
		pos += l;
	}
	if (pos != n) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return 0;
	}
	data_hdr(e, cp, n, ST_FLAG_LAST);
	bpf_ringbuf_submit(e, rb_flags());
	count(ST_STAT_EVENTS, 1);
	count(ST_STAT_BYTES, n);
	return 1;
}

// put_iov puts a call of n (<= CHUNK) bytes through at most IOV_JOIN
// iovecs at iov in one record; 0: not done (more iovecs, or not readable
// as one array), the caller copies it chunk by chunk.
static __always_inline int put_iov(struct copier *cp, __u64 iov, __u64 iovcnt, __u64 n)
{
	struct iovec v[IOV_JOIN] = {};
	if (iovcnt == 0 || iovcnt > IOV_JOIN)
		return 0;
	__u64 sz = iovcnt * sizeof(struct iovec);
	barrier_var(sz);
	if (sz > sizeof(v) || bpf_probe_read_user(v, sz, (void *)iov))
		return 0;
	if (n <= 128)
		return put_iov_sized(cp, v, iovcnt, n, 128);
	if (n <= 512)
		return put_iov_sized(cp, v, iovcnt, n, 512);
	if (n <= 1536)
		return put_iov_sized(cp, v, iovcnt, n, 1536);
	return put_iov_sized(cp, v, iovcnt, n, CHUNK);
}

static __always_inline void emit_data(__u64 sk, struct conn *c, __u8 dir, __u8 flags, __u64 off, __u64 n,
				      __u64 base, __u64 seglen, __u64 iov, __u64 iovcnt)
{
	announce(sk, c);
	struct copier cp;
	cp.off = off;
	cp.end = off + n;
	cp.sk = sk;
	cp.gen = c->gen;
	cp.ts = bpf_ktime_get_ns();
	cp.dir = dir;
	cp.flags = flags;
	// One buffer, one chunk (most calls): no loop. The test is on a
	// shifted copy of n, so that the verifier does not learn n > CHUNK on
	// the other path: with that bound the loop's states would differ in
	// every iteration and never converge.
	_Static_assert(CHUNK == 1 << 12, "the shift below is log2(CHUNK)");
	__u64 hi = n;
	barrier_var(hi);
	if ((hi >> 12) == 0) {
		if (!iov) {
			put_sized(&cp, base, n, ST_FLAG_LAST);
			return;
		}
		if (put_iov(&cp, iov, iovcnt, n))
			return;
	}
	cp.base = base;
	cp.left_in_seg = seglen;
	cp.iov = iov;
	cp.iovcnt = iovcnt;
	cp.remaining = n;
	cp.chunks = 0;
	bpf_loop(MAX_LOOP, copy_chunk, &cp, 0);
	if (cp.remaining)
		count(ST_STAT_TRUNC_BYTES, cp.remaining);
}

// ---- syscalls ----
//
// Only the exit tracepoints: a syscall's arguments are still in the user
// registers the kernel saved at entry (bpf_task_pt_regs), so no enter hook
// has to save them for the exit, and a call that moved nothing (EAGAIN)
// costs one program that stops at its first test.

static __always_inline struct pt_regs *uregs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

enum { ST_CALL_BUF = 1, ST_CALL_IOV = 2, ST_CALL_MSG = 3 };

// check_opaque looks at a stream's first bytes (a call at offset 0 that
// moved ret >= 3 bytes, from buf or from the first of iovcnt iovecs at iov):
// a TLS handshake record (as looksTLS in assemble.go) makes the connection
// opaque after this call. User space tests the first record it gets, which
// holds the first segment's bytes (a record never spans two iovecs), so an
// iovec shorter than the record header (or empty) is not tested here: the
// call and the rest are then copied, and user space decides as before.
static __always_inline void check_opaque(struct conn *c, __u64 buf, __u64 ret, __u64 iov, __u64 iovcnt)
{
	__u64 n = ret;
	if (iov) {
		struct iovec v = {};
		if (iovcnt == 0 || bpf_probe_read_user(&v, sizeof(v), (void *)iov))
			return;
		buf = (__u64)v.iov_base;
		if (v.iov_len < n)
			n = v.iov_len;
	}
	__u8 h[3];
	if (n >= 3 && !bpf_probe_read_user(h, sizeof(h), (void *)buf) && h[0] == 0x16 && h[1] == 3 && h[2] <= 4)
		c->opaque = 1;
}

// leave hands on the ret bytes a data syscall moved through fd (first
// argument); mem is its second (buffer, iovec array or user_msghdr), cnt
// its third (iovec count).
static __always_inline int leave(long ret, __u8 dir, __u8 kind, struct pt_regs *r)
{
	if (!want_task())
		return 0;
	__u64 sk = fd_sock(r->di);
	if (!sk)
		return 0;
	// One lookup for a known connection; the port filter only decides
	// whether an unknown one is followed (inside an SSL call it is
	// anyway: the SSL object's socket must be learnt).
	struct conn *c = bpf_map_lookup_elem(&conns, &sk);
	struct call *p = task_call(0);
	__u64 ssl = p ? p->ssl : 0;
	if (!c) {
		if (!ssl && !sk_port_wanted(sk))
			return 0;
		c = conn_new(sk, 0);
		if (!c)
			return 0;
	}
	if (ssl) {
		// Inside SSL_read/SSL_write: these are TLS records; the plaintext
		// comes from the uprobes. Remember which socket the SSL object uses.
		__u64 *cur = bpf_map_lookup_elem(&sslsock, &ssl);
		if (!cur || *cur != sk)
			bpf_map_update_elem(&sslsock, &ssl, &sk, BPF_ANY);
		c->tls = 1;
		return 0;
	}
	if (c->ignored || c->tls)
		return 0;
	if (c->mirror) {
		count(ST_STAT_MIRRORED_BYTES, ret);
		return 0;
	}
	__u64 off = __sync_fetch_and_add(&c->off[dir], (__u64)ret);
	if (c->opaque) {
		count(ST_STAT_ENCRYPTED_BYTES, ret);
		return 0;
	}
	if (kind == ST_CALL_BUF)
		guess_role(sk, c, r->si, ret, dir);
	if (mirror_check(sk, c)) {
		count(ST_STAT_MIRRORED_BYTES, ret);
		return 0;
	}
	__u64 mem = r->si;
	__u64 iov = 0, iovcnt = 0;
	if (kind == ST_CALL_IOV) {
		iov = mem;
		iovcnt = r->dx;
	} else if (kind == ST_CALL_MSG) {
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (void *)mem)) {
			count(ST_STAT_UNREADABLE_BYTES, ret);
			return 0;
		}
		iov = (__u64)m.msg_iov;
		iovcnt = m.msg_iovlen;
	}
	if (off == 0 && ret >= 3)
		check_opaque(c, mem, ret, iov, iovcnt);
	if (kind == ST_CALL_BUF)
		emit_data(sk, c, dir, 0, off, ret, mem, ret, 0, 0);
	else
		emit_data(sk, c, dir, 0, off, ret, 0, 0, iov, iovcnt);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	return leave(ctx->ret, ST_DIR_INGRESS, ST_CALL_BUF, uregs());
}

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	return leave(ctx->ret, ST_DIR_EGRESS, ST_CALL_BUF, uregs());
}

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	return leave(ctx->ret, ST_DIR_INGRESS, ST_CALL_IOV, uregs());
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	return leave(ctx->ret, ST_DIR_EGRESS, ST_CALL_IOV, uregs());
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	struct pt_regs *r = uregs();
	if (r->r10 & MSG_PEEK) // flags, 4th argument: peeked bytes are read again later
		return 0;
	return leave(ctx->ret, ST_DIR_INGRESS, ST_CALL_BUF, r);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	return leave(ctx->ret, ST_DIR_EGRESS, ST_CALL_BUF, uregs());
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	struct pt_regs *r = uregs();
	if (r->dx & MSG_PEEK) // flags, 3rd argument
		return 0;
	return leave(ctx->ret, ST_DIR_INGRESS, ST_CALL_MSG, r);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	return leave(ctx->ret, ST_DIR_EGRESS, ST_CALL_MSG, uregs());
}

// sendfile and splice move bytes between a socket and a file or pipe
// without a user buffer: nothing to copy, but the stream's offsets advance
// and an empty record (its end says how far) makes the hole a gap at once,
// so the parsers keep the framing.
static __always_inline void skip_bytes(__u64 sk, __u8 dir, long ret)
{
	struct conn *c = conn_get(sk);
	if (!c || c->ignored || c->tls || c->mirror)
		return;
	__u64 off = __sync_fetch_and_add(&c->off[dir], (__u64)ret);
	count(ST_STAT_SKIPPED_BYTES, ret);
	announce(sk, c);
	struct event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(ST_STAT_LOST_CONTROL, 1);
		return;
	}
	ctl_hdr(e, sk, c->gen, ST_KIND_DATA, 0);
	e->offset = off;
	e->end = off + ret;
	e->dir = dir;
	e->flags = ST_FLAG_LAST;
	bpf_ringbuf_submit(e, rb_flags());
}

static __always_inline int leave_skip(long ret, __u32 fd_in, __u32 fd_out)
{
	if (ret <= 0 || !want_task())
		return 0;
	__u64 out = fd_sock(fd_out);
	if (out)
		skip_bytes(out, ST_DIR_EGRESS, ret);
	__u64 in = fd_sock(fd_in);
	if (in)
		skip_bytes(in, ST_DIR_INGRESS, ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = uregs(); // sendfile64(out_fd, in_fd, ...)
	return leave_skip(ctx->ret, r->si, r->di);
}

SEC("tracepoint/syscalls/sys_exit_splice")
int exit_splice(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *r = uregs(); // splice(fd_in, off_in, fd_out, ...)
	return leave_skip(ctx->ret, r->di, r->dx);
}

// Lifecycle: accept and connect start a connection (and say which side
// this process is); the socket reaching TCP_CLOSE ends it. A close(2) of
// one fd does not: the socket may live on in a dup or a forked child.

static __always_inline int leave_lifecycle(__u32 fd, __u8 role)
{
	if (!want_task())
		return 0;
	__u64 sk = fd_sock(fd);
	if (sk)
		conn_new(sk, role);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	return leave_lifecycle(ctx->ret, ST_ROLE_SERVER);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	return leave_lifecycle(ctx->ret, ST_ROLE_SERVER);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	return leave_lifecycle(uregs()->di, ST_ROLE_CLIENT);
}

SEC("tracepoint/sock/inet_sock_set_state")
int sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->newstate != TCP_CLOSE)
		return 0;
	__u64 key = (__u64)ctx->skaddr;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	if (c->m.role == ST_ROLE_SERVER && !c->ignored && !both_ends) {
		struct tuple t;
		tuple_of(&t, c, 0);
		__u64 *pk = bpf_map_lookup_elem(&tuples, &t);
		if (pk && *pk == key)
			bpf_map_delete_elem(&tuples, &t);
	}
	// A mirror user space never heard of (no CONN record) needs no close.
	if (!c->ignored && (!c->mirror || c->announced)) {
		struct event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(c->off), 0);
		if (!e) {
			count(ST_STAT_LOST_CONTROL, 1);
		} else {
			// Runs in whatever context closes the socket (often softirq):
			// no pid, comm or cgroup (they are not the owner's).
			ctl_hdr(e, key, c->gen, ST_KIND_CLOSE, sizeof(c->off));
			__builtin_memcpy((void *)(e + 1), c->off, sizeof(c->off));
			bpf_ringbuf_submit(e, rb_flags());
		}
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

// New programs may map a libssl the sensor has not attached to yet.
SEC("tracepoint/sched/sched_process_exec")
int process_exec(void *ctx)
{
	if (!want_task())
		return 0;
	struct event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(struct meta), 0);
	if (!e) {
		count(ST_STAT_LOST_CONTROL, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e) + sizeof(struct meta));
	e->ts = bpf_ktime_get_ns();
	e->kind = ST_KIND_EXEC;
	e->len = sizeof(struct meta);
	struct meta *m = (void *)(e + 1);
	m->tgid = bpf_get_current_pid_tgid() >> 32;
	m->cgroup = bpf_get_current_cgroup_id();
	bpf_get_current_comm(m->comm, sizeof(m->comm));
	bpf_ringbuf_submit(e, rb_flags());
	return 0;
}

// ---- OpenSSL ----

// The SSL call's arguments wait in the thread's storage; the socket
// syscalls it makes meanwhile tie the SSL object to its socket.
static __always_inline int ssl_enter(__u64 ssl, __u64 buf, __u64 nptr)
{
	if (!want_task())
		return 0;
	struct call *p = task_call(1);
	if (!p)
		return 0;
	p->ssl = ssl;
	p->buf = buf;
	p->nptr = nptr;
	return 0;
}

static __always_inline int ssl_leave(long ret, __u8 dir, int ex)
{
	struct call *p = task_call(0);
	if (!p || !p->ssl)
		return 0;
	__u64 ssl = p->ssl, buf = p->buf, nptr = p->nptr;
	p->ssl = 0;
	__u64 n = 0;
	if (ex) {
		if (ret != 1 || !nptr)
			return 0;
		bpf_probe_read_user(&n, sizeof(n), (void *)nptr);
	} else {
		if (ret <= 0)
			return 0;
		n = ret;
	}
	if (n == 0)
		return 0;
	__u64 *skp = bpf_map_lookup_elem(&sslsock, &ssl);
	if (!skp) {
		// No socket syscall seen for this SSL object yet (it predates the
		// sensor and has only served buffered data): nowhere to put it.
		count(ST_STAT_TLS_UNMAPPED_BYTES, n);
		return 0;
	}
	__u64 key = *skp;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		count(ST_STAT_TLS_UNMAPPED_BYTES, n);
		return 0;
	}
	if (c->ignored)
		return 0;
	guess_role(key, c, buf, n, dir);
	if (c->mirror || mirror_check(key, c)) {
		count(ST_STAT_MIRRORED_BYTES, n);
		return 0;
	}
	__u64 off = __sync_fetch_and_add(&c->off[2 + dir], n);
	emit_data(key, c, dir, ST_FLAG_TLS, off, n, buf, n, 0, 0);
	return 0;
}

SEC("uprobe/SSL_write")
int BPF_KPROBE(ssl_write, void *ssl, const void *buf, int num) { return ssl_enter((__u64)ssl, (__u64)buf, 0); }
SEC("uretprobe/SSL_write")
int BPF_KRETPROBE(ssl_write_ret, int ret) { return ssl_leave(ret, ST_DIR_EGRESS, 0); }

SEC("uprobe/SSL_read")
int BPF_KPROBE(ssl_read, void *ssl, void *buf, int num) { return ssl_enter((__u64)ssl, (__u64)buf, 0); }
SEC("uretprobe/SSL_read")
int BPF_KRETPROBE(ssl_read_ret, int ret) { return ssl_leave(ret, ST_DIR_INGRESS, 0); }

SEC("uprobe/SSL_write_ex")
int BPF_KPROBE(ssl_write_ex, void *ssl, const void *buf, size_t num, size_t *written)
{
	return ssl_enter((__u64)ssl, (__u64)buf, (__u64)written);
}
SEC("uretprobe/SSL_write_ex")
int BPF_KRETPROBE(ssl_write_ex_ret, int ret) { return ssl_leave(ret, ST_DIR_EGRESS, 1); }

SEC("uprobe/SSL_read_ex")
int BPF_KPROBE(ssl_read_ex, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return ssl_enter((__u64)ssl, (__u64)buf, (__u64)readbytes);
}
SEC("uretprobe/SSL_read_ex")
int BPF_KRETPROBE(ssl_read_ex_ret, int ret) { return ssl_leave(ret, ST_DIR_INGRESS, 1); }
