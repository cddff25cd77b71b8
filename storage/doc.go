// Package storage persists detect's state in an embedded badger store.
//
// A DB implements detect.Store over badger v4: Get, ordered prefix Scan and
// Apply of a batch of mutations (one badger transaction when the batch fits
// one, else a WriteBatch whose parts are each atomic), with per-key TTL for
// retention. DB also owns the store's upkeep: a schema version with a
// migration table, value-log GC on a schedule (Start/Close own the
// goroutine), a size bound, and Stats, Compact, Backup and Restore for
// operators. Only one process may open a directory: a second gets ErrLocked.
//
// # Key layout
//
// Keys are ASCII prefixes followed by a name; detect chooses the names of its
// own keys (detect/state.go) and storage only reserves "m/".
//
//	m/schema            storage: the schema version, a uvarint (see Schema)
//	s/manifest          detect: which state slot is complete, its generation
//	                    and the part keys it holds (see below)
//	s/a/<part> s/b/<part>
//	                    detect: the engine's state, one value per part
//	                    ("engine", "host/<name>", "secrets", "pii", and the
//	                    parts other detectors add), each a versioned binary
//	                    encoding; written to the slot the manifest does not
//	                    name, then the manifest flips, so a crash mid-save
//	                    leaves the previous snapshot whole
//	a/<id>              detect: one alert episode (JSON of the contract's
//	                    alert plus its id), written with the alert TTL
//	k/<id>              detect: acknowledgement of alert <id> (JSON: at, by)
//	v/endpoints         detect: the report's endpoints and unseen operations
//	                    of the last save (JSON), for the query commands
//	t/<ns>/<seq>        detect: one sampled transaction (JSON, the endpoint
//	                    template instead of the URI), written with the
//	                    sample TTL; <ns> is the capture time in Unix
//	                    nanoseconds and <seq> a sequence, both 16 hex digits,
//	                    so that keys sort by capture time
//	d/pending/<id>/<sink>
//	                    the daemon (cmd/shadowtap): alert <id> handed to
//	                    sink <sink> and not yet delivered (the JSON the
//	                    sink sends), with the alert TTL; removed on
//	                    delivery, handed over again after a restart
//
// Values larger than 192 KiB are stored in parts under <key>\x00<index>
// (see chunk.go) so that every value stays in the LSM tree, where
// compaction reclaims overwritten ones; Get and Scan reassemble them and
// never show the parts. Keys must not hold a NUL byte.
//
// Values are compressed by badger (snappy); nothing stored is a secret or
// personal datum in clear: detect keeps only types and fingerprints.
//
// # Size bound
//
// Options.MaxBytes bounds the files on disk. Above it, mutations that carry
// a TTL (alerts and other retention data) are dropped and counted in
// Stats.DroppedAtBound, a value-log GC is requested, and everything else
// (engine state, whose size detect bounds itself, deletes, acks) is still
// written, so a full store keeps a consistent engine state and loses only
// new retention data until GC or TTL expiry makes room.
package storage
