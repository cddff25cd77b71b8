package main

import (
	"io"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/reassembly"
)

// newLogger returns the CLI's structured logger on w: human-readable on a
// terminal, JSON lines otherwise. An unknown level means warn.
func newLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.WarnLevel
	}
	out := w
	if isTerminal(w) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Str("component", "analyze").Logger()
}

// logStats logs the pipeline's warnings and, at debug level, every counter
// of what was read, parsed, skipped and dropped.
func logStats(log zerolog.Logger, st *reassembly.Stats) {
	for _, w := range st.Warnings {
		log.Warn().Msg(w)
	}
	log.Info().Uint64("packets", st.Packets).Uint64("flows", st.Flows).Uint64("transactions", st.Transactions).
		Uint64("parse_errors", st.ParseErrors).Msg("analysis finished")
	d := st.Decoder
	log.Debug().
		Uint64("filtered", st.Filtered).Uint64("http_flows", st.HTTPFlows).Uint64("non_http_flows", st.NonHTTPFlows).
		Uint64("requests", st.Requests).Uint64("responses", st.Responses).
		Uint64("gaps", st.Gaps).Uint64("gap_bytes", st.GapBytes).Uint64("buffer_limit_gaps", st.BufferLimitGaps).
		Uint64("skipped_bytes", st.SkippedBytes).Uint64("resync_skipped_bytes", st.ResyncSkippedBytes).
		Uint64("decode_errors", st.DecodeErrors).Uint64("upgrades", st.Upgrades).Uint64("evicted_flows", st.EvictedFlows).
		Uint64("udp", st.UDP).Uint64("other_packets", st.OtherPackets).
		Uint64("undecodable", d.Undecodable).Uint64("not_ip", d.NotIP).Uint64("unsupported_link_type", d.UnsupportedLinkType).
		Uint64("fragments", d.Fragments).Uint64("reassembled", d.Reassembled).Uint64("fragments_dropped", d.FragmentsDropped).
		Uint64("decapsulated", d.Decapsulated).Uint64("truncated", d.Truncated).
		Msg("pipeline counters")
}
