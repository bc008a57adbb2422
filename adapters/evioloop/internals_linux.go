package evioloop

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/tidwall/evio"
)

// evio's Conn tells neither its descriptor nor how much output it still holds, and the adapter
// needs both: the descriptor to abort a connection whose output cannot drain (evio writes
// pending output before it acts on Close, so a peer that never reads would hold the connection
// open forever) and the pending length to know when more output may be handed over (evio
// replaces, not appends, the output of a wake). Both are read, never written, from evio's
// unexported connection struct through reflect, only on the connection's own loop goroutine,
// so there is no race with evio. go.mod pins evio v1.0.8 (the project is archived) and
// TestInternals checks the layout.

// layout holds the field indexes of evio's connection struct, found on first use.
var layout struct {
	once    sync.Once
	fd, out int
	err     error
}

func findLayout(ec evio.Conn) error {
	layout.once.Do(func() {
		layout.fd, layout.out, layout.err = inspect(reflect.TypeOf(ec))
	})
	return layout.err
}

// inspect finds the fd and out fields in t, which must be a pointer to evio's connection struct.
func inspect(t reflect.Type) (fd, out int, err error) {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return 0, 0, fmt.Errorf("evio: connection is a %v, not a pointer to a struct", t)
	}
	t = t.Elem()
	fdf, okFD := t.FieldByName("fd")
	outf, okOut := t.FieldByName("out")
	if !okFD || fdf.Type.Kind() != reflect.Int || !okOut || outf.Type != reflect.TypeOf([]byte(nil)) {
		return 0, 0, fmt.Errorf("evio: connection struct %v lacks fd int and out []byte (evio other than v1.0.8?)", t)
	}
	return fdf.Index[0], outf.Index[0], nil
}

// connFD returns the connection's socket descriptor.
func connFD(ec evio.Conn) (int, error) {
	if err := findLayout(ec); err != nil {
		return -1, err
	}
	return int(reflect.ValueOf(ec).Elem().Field(layout.fd).Int()), nil
}

// pendingOut returns how many bytes evio still holds to write for the connection. Only from
// the connection's loop goroutine, after connFD succeeded once.
func pendingOut(ec evio.Conn) int {
	return reflect.ValueOf(ec).Elem().Field(layout.out).Len()
}
