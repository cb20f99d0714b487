package dataset

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// maxPageBytes bounds a page's declared (uncompressed) size.
const maxPageBytes = 256 << 20

// checkPages walks every column chunk's page headers before parquet-go reads
// them, so that corrupt metadata cannot make the library allocate without
// bound or spin: codecs must be zstd or uncompressed (parquet-go's LZ4 decoder
// loops forever on corrupt input), chunks must lie inside the file, page sizes
// are bounded, and a zstd page's declared frame size may not exceed its page
// size. (A zstd stream without a declared size is still bounded only by the
// format's expansion ratio: parquet-go offers no decoder memory limit.)
func checkPages(ra io.ReaderAt, size int64, pf *parquet.File) error {
	md := pf.Metadata()
	dataEnd := size - 8 - int64(binary.LittleEndian.Uint32(tailOf(ra, size)))
	var proto thrift.CompactProtocol
	hdr := make([]byte, 64<<10)
	for g, rg := range md.RowGroups {
		for c, cc := range rg.Columns {
			m := &cc.MetaData
			col := fmt.Sprintf("row group %d column %s", g, columnName(m, c))
			if m.Codec != format.Zstd && m.Codec != format.Uncompressed {
				return fmt.Errorf("%s: codec %v, distill shards use ZSTD", col, m.Codec)
			}
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			end := start + m.TotalCompressedSize
			if start < 4 || m.TotalCompressedSize < 0 || end > dataEnd || end < start {
				return fmt.Errorf("%s: chunk [%d, %d) outside the file's data [4, %d)", col, start, end, dataEnd)
			}
			for off := start; off < end; {
				n := min(int64(len(hdr)), end-off)
				if _, err := ra.ReadAt(hdr[:n], off); err != nil && err != io.EOF {
					return fmt.Errorf("%s: read page header at %d: %w", col, off, err)
				}
				if _, err := checkThrift(hdr[:n]); err != nil {
					return fmt.Errorf("%s: page header at %d: %v", col, off, err)
				}
				var ph format.PageHeader
				r := proto.NewReaderFromBytes(hdr[:n])
				if err := thrift.NewDecoder(r).Decode(&ph); err != nil {
					return fmt.Errorf("%s: page header at %d: %v", col, off, err)
				}
				off += int64(r.BytesRead())
				if ph.CompressedPageSize < 0 || ph.UncompressedPageSize < 0 || ph.UncompressedPageSize > maxPageBytes {
					return fmt.Errorf("%s: page at %d declares sizes %d/%d (limit %d)", col, off, ph.CompressedPageSize, ph.UncompressedPageSize, maxPageBytes)
				}
				if off+int64(ph.CompressedPageSize) > end {
					return fmt.Errorf("%s: page at %d of %d bytes overruns its chunk", col, off, ph.CompressedPageSize)
				}
				if m.Codec == format.Zstd {
					skip := int64(0)
					if ph.DataPageHeaderV2.Valid {
						v2 := &ph.DataPageHeaderV2.V
						skip = int64(v2.RepetitionLevelsByteLength) + int64(v2.DefinitionLevelsByteLength)
						if v2.RepetitionLevelsByteLength < 0 || v2.DefinitionLevelsByteLength < 0 || skip > int64(ph.CompressedPageSize) {
							return fmt.Errorf("%s: page at %d has bad level lengths", col, off)
						}
					}
					if fcs, ok := zstdFrameSize(ra, off+skip, int64(ph.CompressedPageSize)-skip); ok && fcs > uint64(ph.UncompressedPageSize) {
						return fmt.Errorf("%s: page at %d: zstd frame declares %d bytes, page %d", col, off, fcs, ph.UncompressedPageSize)
					}
				}
				off += int64(ph.CompressedPageSize)
			}
		}
	}
	return nil
}

func tailOf(ra io.ReaderAt, size int64) []byte {
	var b [8]byte
	ra.ReadAt(b[:], size-8)
	return b[:4]
}

func columnName(m *format.ColumnMetaData, i int) string {
	if len(m.PathInSchema) > 0 {
		s := m.PathInSchema[0]
		for _, p := range m.PathInSchema[1:] {
			s += "." + p
		}
		return s
	}
	return fmt.Sprint(i)
}

// zstdFrameSize returns the Frame_Content_Size declared by the zstd frame at
// off, if any (RFC 8878 §3.1.1.1).
func zstdFrameSize(ra io.ReaderAt, off, n int64) (uint64, bool) {
	if n < 6 {
		return 0, false
	}
	var b [18]byte
	k, _ := ra.ReadAt(b[:min(n, 18)], off)
	if k < 6 || binary.LittleEndian.Uint32(b[:4]) != 0xFD2FB528 {
		return 0, false
	}
	fhd := b[4]
	fcsFlag, single, didFlag := fhd>>6, fhd>>5&1, fhd&3
	p := 5
	if single == 0 {
		p++ // window descriptor
	}
	p += [4]int{0, 1, 2, 4}[didFlag]
	size := [4]int{0, 2, 4, 8}[fcsFlag]
	if fcsFlag == 0 && single == 1 {
		size = 1
	}
	if size == 0 || p+size > k {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(b[p]), true
	case 2:
		return uint64(binary.LittleEndian.Uint16(b[p:])) + 256, true
	case 4:
		return uint64(binary.LittleEndian.Uint32(b[p:])), true
	}
	return binary.LittleEndian.Uint64(b[p:]), true
}
