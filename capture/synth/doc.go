// Package synth writes synthetic captures: real TCP conversations carrying
// HTTP, with the simulator's labelled API scenarios on top.
//
// The layers, bottom up:
//
//   - Writer streams pcap records to an io.Writer (bounded memory).
//   - Conn plays one TCP connection — handshake, MSS-sized segments, correct
//     sequence and acknowledgement numbers, delayed ACKs, FIN teardown, IPv4
//     or IPv6, 802.1Q/QinQ tags, VXLAN — with deterministic impairments
//     (capture loss, retransmission, reordering, mid-stream start, one
//     direction only), writing frames to a Sink.
//   - Request and Response build HTTP/1.1 messages (chunked, gzip, br,
//     100-continue); Conn.Exchange and friends put them on the wire.
//   - Recorder and Merger interleave many connections in timestamp order in
//     bounded memory, which the simulator (Simulate) builds on to write
//     labelled API scenarios: traffic.pcap, documented.yaml and truth.json.
package synth
