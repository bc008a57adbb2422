package main

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/reactorlab/reactor/adapters"
)

// TestBackendsListsTheRegistry: `reactor backends` shows exactly the backends a library user
// gets from adapters.Registry, no more and no fewer.
func TestBackendsListsTheRegistry(t *testing.T) {
	var out, errOut lockedBuffer
	if code := run(context.Background(), []string{"backends", "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("backends --json: exit %d, %s", code, errOut.String())
	}
	var descs []backendDesc
	if err := json.Unmarshal([]byte(out.String()), &descs); err != nil {
		t.Fatalf("backends --json: %v\n%s", err, out.String())
	}
	var got []string
	for _, d := range descs {
		got = append(got, d.Name)
	}
	if want := adapters.Registry().Names(); !slices.Equal(got, want) {
		t.Errorf("reactor backends lists %v; want %v, the names in adapters.Registry", got, want)
	}
}
