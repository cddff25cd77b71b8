package content

import (
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
)

// Pool recycles gzip, zlib and flate decompressors (about 40 KiB each)
// between bodies, so that a stream of small compressed responses does not
// allocate one per body. One Pool is meant to be shared by the parsers of a
// worker; it is safe for concurrent use, and the garbage collector empties
// it when memory is needed (it is built on sync.Pool). Brotli decoders are
// not pooled: their window can reach 16 MiB. The zero Pool is ready to use;
// a nil *Pool allocates a decompressor per body.
type Pool struct {
	gz, fl, zl sync.Pool
}

func (p *Pool) getGzip() *gzip.Reader {
	if p == nil {
		return nil
	}
	r, _ := p.gz.Get().(*gzip.Reader)
	return r
}

func (p *Pool) getFlate() io.ReadCloser {
	if p == nil {
		return nil
	}
	r, _ := p.fl.Get().(io.ReadCloser)
	return r
}

func (p *Pool) getZlib() io.ReadCloser {
	if p == nil {
		return nil
	}
	r, _ := p.zl.Get().(io.ReadCloser)
	return r
}

// put returns a layer's decompressors, detached from their input.
func (p *Pool) put(l *layer) {
	if p == nil {
		return
	}
	if l.gz != nil {
		l.gz.Reset(emptyReader{}) // fails (no header) but drops the old input
		p.gz.Put(l.gz)
	}
	if l.fl != nil {
		l.fl.(flate.Resetter).Reset(emptyReader{}, nil)
		p.fl.Put(l.fl)
	}
	if l.zl != nil {
		l.zl.(zlib.Resetter).Reset(emptyReader{}, nil)
		p.zl.Put(l.zl)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyReader) ReadByte() (byte, error)  { return 0, io.EOF }
