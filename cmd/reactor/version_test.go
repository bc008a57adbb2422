package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "reactor unknown, commit unknown, " + runtime.Version()},
		{"checkout without vcs", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, true,
			"reactor (devel), commit unknown, go1.26.0"},
		{"release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0841ca5"}, {Key: "vcs.modified", Value: "true"}}}, true,
			"reactor v0.3.0, commit 0841ca5 (modified), go1.26.0"},
	} {
		if got := versionLine(tc.info, tc.ok); got != tc.want {
			t.Errorf("%s: got %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out, errOut lockedBuffer
		if code := run(context.Background(), []string{arg}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "reactor ") || !strings.Contains(out.String(), runtime.Version()) {
			t.Errorf("reactor %s: exit %d, %q; want the version line", arg, code, out.String())
		}
	}
}
