package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestNativeRefusesWhatItCannotServe: a library that is not built in, a protocol the baseline
// does not serve, or a proxy with nowhere to relay to is a usage error that says so.
func TestNativeRefusesWhatItCannotServe(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--lib", "nosuch"}, `unknown library "nosuch"`},
		{[]string{"--lib", "iocopy", "--proto", "http"}, `iocopy does not serve "http" (it serves proxy)`},
		{[]string{"--lib", "gnet", "--proto", "proxy"}, `gnet does not serve "proxy" (it serves http, echo)`},
		{[]string{"--lib", "iocopy", "--proto", "proxy"}, "--proto proxy needs --upstream"},
	} {
		var stdout, stderr bytes.Buffer
		code := runNative(context.Background(), c.args, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("reactor native %v: exit %d, %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}
