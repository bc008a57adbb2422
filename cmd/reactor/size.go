package main

import (
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a count of bytes written as 65536, 64k, 64KiB, 1M or 1MiB (powers of two: these
// are buffer sizes). It is a flag.Value and decodes from YAML as a number or such a string.
type byteSize int

func (s *byteSize) String() string { return strconv.Itoa(int(*s)) }

func (s *byteSize) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = byteSize(n)
	return nil
}

// UnmarshalText lets the YAML decoder read sizes as strings too.
func (s *byteSize) UnmarshalText(b []byte) error { return s.Set(string(b)) }

func parseSize(v string) (int, error) {
	t := strings.TrimSpace(v)
	mult := 1
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want a byte count such as 65536, 64KiB or 1MiB)", v)
	}
	return n * mult, nil
}
