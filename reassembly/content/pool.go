package content

import (
	"io"
	"math/bits"
	"sync"
	"unsafe"

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
//
// A Pool also lends Decoders their working buffers (the encoded input and
// the sample being decoded) for the time of one body; a Decoder without a
// Pool allocates them per body.
//
// The samples that Decoders using a Pool hand out (Decoder.Finish,
// Encoded.Decode) and the input an Encoded copies are taken from it too,
// with a capacity rounded up to one of its size classes (at most an
// eighth more, or 15 bytes): a consumer that is done with a sample gives
// it back with PutSample, and the next samples of about its size reuse it
// rather than allocate. Samples never given back are left to the garbage
// collector.
type Pool struct {
	gz, fl, zl sync.Pool
	bufs       sync.Pool // *[]byte, len 0: samples being decoded
	ins        sync.Pool // *[]byte, len 0: encoded input (see Decoder.Defer)
	decs       sync.Pool // *Decoder, for Encoded.Decode
	ld         sync.Pool // *gunzipper (libdeflate builds, whole.go)
	// samples holds, by size class (sampleClass), the address of the
	// first byte of arrays of the class's capacity, as unsafe.Pointer:
	// a pointer goes into an interface without allocating, and the
	// class gives the length back, so one Get or Put per sample (a box
	// for a []byte took a second pool).
	samples [numSampleClasses]sync.Pool
}

// numSampleClasses is the number of size classes of pooled samples: 16
// of 16 bytes up to 256, then 8 per doubling up to maxPooledBuf.
const numSampleClasses = 16 + (maxPooledBufBits-8)*8

// sampleClass returns the size class of a sample of n ≥ 1 bytes: its index
// in Pool.samples and its capacity, the smallest of the classes' at least
// n (n rounded up to 16 bytes up to 256, then to an eighth of the power of
// two below it); ok is false above maxPooledBuf.
func sampleClass(n int) (idx, size int, ok bool) {
	if n <= 256 {
		k := (n + 15) >> 4 // 1..16
		return k - 1, k << 4, true
	}
	if n > maxPooledBuf {
		return 0, 0, false
	}
	b := bits.Len(uint(n - 1)) // 2^(b-1) < n <= 2^b, b >= 9
	s := b - 4
	k := (n - 1<<(b-1) + 1<<s - 1) >> s // 1..8
	return 16 + (b-9)*8 + k - 1, 1<<(b-1) + k<<s, true
}

// getSample returns an empty buffer of capacity at least n for a sample
// that leaves the Decoder: a pooled one of n's size class, or a new one of
// that capacity (of exactly n from a nil Pool, or past the classes).
func (p *Pool) getSample(n int) []byte {
	if p == nil || n <= 0 {
		return make([]byte, 0, n)
	}
	idx, size, ok := sampleClass(n)
	if !ok {
		return make([]byte, 0, n)
	}
	if a, _ := p.samples[idx].Get().(unsafe.Pointer); a != nil {
		return unsafe.Slice((*byte)(a), size)[:0]
	}
	return make([]byte, 0, size)
}

// PutSample gives back a sample that a Decoder using p handed out
// (Decoder.Finish, Encoded.Decode), once nothing refers to its bytes any
// more: a later sample may reuse them. Buffers of a capacity that is not
// one of p's size classes (allocated elsewhere, or grown) are left to the
// garbage collector, as is everything given to a nil Pool. It is safe for
// concurrent use.
func (p *Pool) PutSample(b []byte) {
	if p == nil || cap(b) == 0 {
		return
	}
	idx, size, ok := sampleClass(cap(b))
	if !ok || size != cap(b) {
		return
	}
	// b[:cap(b)] is size bytes of one array (maybe not from its start,
	// which does not matter: the pointer keeps the array alive).
	p.samples[idx].Put(unsafe.Pointer(unsafe.SliceData(b)))
}

// getDecoder returns a Decoder for Encoded.Decode (a new one from a nil
// Pool).
func (p *Pool) getDecoder() *Decoder {
	if p != nil {
		if d, ok := p.decs.Get().(*Decoder); ok {
			return d
		}
	}
	return new(Decoder)
}

// putDecoder takes back a Decoder that Finish ended.
func (p *Pool) putDecoder(d *Decoder) {
	if p != nil {
		p.decs.Put(d)
	}
}

// getGunzipper returns a libdeflate decompressor (a new one from a nil
// Pool), or nil in builds without libdeflate.
func (p *Pool) getGunzipper() *gunzipper {
	if p != nil {
		if z, ok := p.ld.Get().(*gunzipper); ok {
			return z
		}
	}
	return newGunzipper()
}

// putGunzipper takes back a decompressor from getGunzipper (a nil Pool
// frees it).
func (p *Pool) putGunzipper(z *gunzipper) {
	if p == nil {
		z.close()
		return
	}
	p.ld.Put(z)
}

// maxPooledBuf is the largest buffer a Pool takes back.
const (
	maxPooledBufBits = 18
	maxPooledBuf     = 1 << maxPooledBufBits
)

// getBuf returns a buffer of capacity at least n, behind a pointer so that
// it goes back to the pool without allocating: the pool's or a new one
// (always a new one from a nil Pool). The caller owns it until putBuf.
// Buffers for encoded input (in) are kept apart from those for samples,
// which grow larger: an Encoded takes its input buffer along when it is
// not much larger than the input.
func (p *Pool) getBuf(n int, in bool) *[]byte {
	if p != nil {
		sp := &p.bufs
		if in {
			sp = &p.ins
		}
		if b, ok := sp.Get().(*[]byte); ok {
			if cap(*b) >= n {
				return b
			}
			sp.Put(b)
		}
	}
	if n <= smallBuf {
		// The box and its first array in one allocation (the array is
		// left behind if the buffer grows).
		bb := new(boxedBuf)
		bb.b = bb.a[:0:smallBuf]
		return &bb.b
	}
	b := make([]byte, 0, n)
	return &b
}

// smallBuf is the capacity of a new buffer from getBuf.
const smallBuf = 1024

type boxedBuf struct {
	b []byte
	a [smallBuf]byte
}

// putBuf takes back a buffer from getBuf; its bytes must not be used after.
func (p *Pool) putBuf(b *[]byte, in bool) {
	if p == nil || cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	if in {
		p.ins.Put(b)
	} else {
		p.bufs.Put(b)
	}
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
