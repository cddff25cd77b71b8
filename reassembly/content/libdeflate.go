//go:build cgo && libdeflate

package content

// The binding to libdeflate (Eric Biggers' whole-buffer DEFLATE library,
// Debian package libdeflate-dev), built only with the libdeflate tag and
// cgo. It is linked statically (libdeflate.a), so the binary needs no
// libdeflate at run time. See whole.go for how and when it is used.

/*
#cgo LDFLAGS: -l:libdeflate.a
#include <libdeflate.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// haveLibdeflate says whether this build decodes whole gzip bodies with
// libdeflate (whole.go).
const haveLibdeflate = true

// gunzipper is one libdeflate decompressor (about 12 KiB of C memory,
// mostly decode tables). It is not safe for concurrent use; Pool lends
// them. The C memory is freed by close, or by the garbage collector once
// the gunzipper is unreachable (a Pool's sync.Pool may drop it).
type gunzipper struct {
	d       *C.struct_libdeflate_decompressor
	cleanup runtime.Cleanup
	// pin pins the buffers for the call: a Pool's small buffers share
	// their allocation with the slice header pointing at them
	// (boxedBuf), which cgo's pointer rules forbid passing unpinned.
	pin runtime.Pinner
	// sizes receives the bytes read and written (its own allocation:
	// locals whose address goes to C would escape, one per call).
	sizes *[2]C.size_t
}

// newGunzipper returns a new decompressor, or nil when libdeflate cannot
// allocate one.
func newGunzipper() *gunzipper {
	d := C.libdeflate_alloc_decompressor()
	if d == nil {
		return nil
	}
	z := &gunzipper{d: d, sizes: new([2]C.size_t)}
	z.cleanup = runtime.AddCleanup(z, freeDecompressor, d)
	return z
}

func freeDecompressor(d *C.struct_libdeflate_decompressor) {
	C.libdeflate_free_decompressor(d)
}

// close frees the decompressor now; z must not be used after.
func (z *gunzipper) close() {
	z.cleanup.Stop()
	C.libdeflate_free_decompressor(z.d)
	z.d = nil
}

// member decodes the gzip member at the start of in (header, DEFLATE
// data, CRC-32 and size checked by libdeflate) into out, which must have
// room for all of it. It returns the bytes of in the member took and of
// out it filled.
func (z *gunzipper) member(in, out []byte) (inUsed, outN int, r wholeResult) {
	if len(in) == 0 {
		return 0, 0, wholeBad
	}
	if cap(out) == 0 {
		// No room left, but an empty member may follow: libdeflate
		// still needs somewhere to point.
		out = make([]byte, 0, 1)
	}
	inp, outp := unsafe.SliceData(in), unsafe.SliceData(out[:cap(out)])
	z.pin.Pin(inp)
	z.pin.Pin(outp)
	res := C.libdeflate_gzip_decompress_ex(z.d,
		unsafe.Pointer(inp), C.size_t(len(in)),
		unsafe.Pointer(outp), C.size_t(len(out)),
		&z.sizes[0], &z.sizes[1])
	z.pin.Unpin()
	switch res {
	case C.LIBDEFLATE_SUCCESS:
		return int(z.sizes[0]), int(z.sizes[1]), wholeOK
	case C.LIBDEFLATE_INSUFFICIENT_SPACE:
		return 0, 0, wholeNoRoom
	}
	return 0, 0, wholeBad
}
