package content

import (
	"errors"
	"fmt"
	"strings"
)

// Coding is one HTTP content or transfer coding the Decoder understands.
type Coding uint8

const (
	Identity Coding = iota // no transformation
	Gzip                   // gzip and x-gzip (RFC 1952), multi-member allowed
	Deflate                // deflate: zlib (RFC 1950) or, as sent by some servers, raw (RFC 1951)
	Brotli                 // br (RFC 7932)
)

// String returns the coding's token.
func (c Coding) String() string {
	switch c {
	case Identity:
		return "identity"
	case Gzip:
		return "gzip"
	case Deflate:
		return "deflate"
	case Brotli:
		return "br"
	}
	return fmt.Sprintf("coding(%d)", uint8(c))
}

// MaxLayers bounds how many non-identity codings one body may stack.
const MaxLayers = 4

var (
	// ErrUnsupported reports a coding the Decoder does not implement
	// (compress, zstd, unknown tokens) or a stack deeper than MaxLayers.
	ErrUnsupported = errors.New("unsupported content coding")
	// ErrLimit reports that decoding would produce more than
	// Options.MaxDecompress bytes (decompression-bomb guard).
	ErrLimit = errors.New("decompression limit exceeded")
	// ErrCorrupt reports an encoded stream that could not be decoded.
	ErrCorrupt = errors.New("corrupt encoded body")
	// ErrTruncated reports an encoded stream that ended early although the
	// body was complete.
	ErrTruncated = errors.New("truncated encoded body")
)

// ParseCodings appends to dst the codings listed in one Content-Encoding or
// Transfer-Encoding header value, in the order they were applied
// ("gzip, br" = gzip first, then br). identity is skipped; chunked is
// skipped too (it is framing, removed by the HTTP parser). Tokens are
// case-insensitive. An unknown token yields ErrUnsupported together with
// the codings understood so far.
func ParseCodings(dst []Coding, value string) ([]Coding, error) {
	var err error
	for value != "" {
		var tok string
		if i := strings.IndexByte(value, ','); i >= 0 {
			tok, value = value[:i], value[i+1:]
		} else {
			tok, value = value, ""
		}
		if i := strings.IndexByte(tok, ';'); i >= 0 { // parameters are not defined for codings; ignore
			tok = tok[:i]
		}
		tok = strings.Trim(tok, " \t")
		switch {
		case tok == "":
		case strings.EqualFold(tok, "identity"), strings.EqualFold(tok, "chunked"):
		case strings.EqualFold(tok, "gzip"), strings.EqualFold(tok, "x-gzip"):
			dst = append(dst, Gzip)
		case strings.EqualFold(tok, "deflate"):
			dst = append(dst, Deflate)
		case strings.EqualFold(tok, "br"):
			dst = append(dst, Brotli)
		default:
			if err == nil {
				err = fmt.Errorf("coding %q: %w", truncate(tok, 32), ErrUnsupported)
			}
		}
	}
	return dst, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
