//go:build !linux

package echo

import "errors"

// gettid has no portable counterpart: thread IDs that ps shows are Linux's.
func gettid() (int, error) {
	return 0, errors.New("echo: --echo-tag thread needs Linux (gettid(2))")
}
