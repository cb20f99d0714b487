package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkThrift scans one Thrift compact-protocol struct in b without
// allocating and returns its length. It rejects what would make a decoder
// allocate from untrusted counts: every list, set, map and binary length must
// fit in the bytes that remain (each element takes at least one byte).
// parquet-go's Thrift decoder sizes slices from these counts before reading
// them, so the footer and page headers pass through here first.
func checkThrift(b []byte) (int, error) {
	s := thriftScanner{b: b}
	if err := s.structure(0); err != nil {
		return 0, err
	}
	return s.off, nil
}

type thriftScanner struct {
	b   []byte
	off int
}

var errThriftShort = errors.New("thrift: truncated")

const maxThriftDepth = 32

func (s *thriftScanner) byte1() (byte, error) {
	if s.off >= len(s.b) {
		return 0, errThriftShort
	}
	c := s.b[s.off]
	s.off++
	return c, nil
}

func (s *thriftScanner) uvarint() (uint64, error) {
	v, n := binary.Uvarint(s.b[s.off:])
	if n <= 0 {
		return 0, errThriftShort
	}
	s.off += n
	return v, nil
}

func (s *thriftScanner) skip(n uint64) error {
	if n > uint64(len(s.b)-s.off) {
		return fmt.Errorf("thrift: length %d beyond the %d bytes left", n, len(s.b)-s.off)
	}
	s.off += int(n)
	return nil
}

func (s *thriftScanner) structure(depth int) error {
	if depth > maxThriftDepth {
		return errors.New("thrift: nesting too deep")
	}
	for {
		h, err := s.byte1()
		if err != nil {
			return err
		}
		if h == 0 {
			return nil // stop field
		}
		if h>>4 == 0 { // long-form field id
			if _, err := s.uvarint(); err != nil {
				return err
			}
		}
		if err := s.value(h&0x0f, depth, false); err != nil {
			return err
		}
	}
}

// value skips one value of compact type t; inList marks list elements, where
// booleans take a byte.
func (s *thriftScanner) value(t byte, depth int, inList bool) error {
	switch t {
	case 1, 2: // bool: in the field header, or a byte inside lists
		if inList {
			_, err := s.byte1()
			return err
		}
		return nil
	case 3:
		_, err := s.byte1()
		return err
	case 4, 5, 6:
		_, err := s.uvarint()
		return err
	case 7:
		return s.skip(8)
	case 8:
		n, err := s.uvarint()
		if err != nil {
			return err
		}
		return s.skip(n)
	case 9, 10: // list, set
		h, err := s.byte1()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 15 {
			if n, err = s.uvarint(); err != nil {
				return err
			}
		}
		if n > uint64(len(s.b)-s.off) {
			return fmt.Errorf("thrift: list of %d elements in %d bytes", n, len(s.b)-s.off)
		}
		for i := uint64(0); i < n; i++ {
			if err := s.value(h&0x0f, depth+1, true); err != nil {
				return err
			}
		}
		return nil
	case 11: // map
		n, err := s.uvarint()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n > uint64(len(s.b)-s.off) {
			return fmt.Errorf("thrift: map of %d entries in %d bytes", n, len(s.b)-s.off)
		}
		kv, err := s.byte1()
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := s.value(kv>>4, depth+1, true); err != nil {
				return err
			}
			if err := s.value(kv&0x0f, depth+1, true); err != nil {
				return err
			}
		}
		return nil
	case 12:
		return s.structure(depth + 1)
	case 13: // uuid
		return s.skip(16)
	}
	return fmt.Errorf("thrift: unknown type %d", t)
}
