package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// versionLine says which build this is: the module version ("(devel)" for a build from a
// checkout), the commit it was built from and the Go that built it, from the build info.
func versionLine(info *debug.BuildInfo, ok bool) string {
	version, commit, modified, goVersion := "unknown", "unknown", false, runtime.Version()
	if ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("reactor %s, commit %s, %s", version, commit, goVersion)
}

func runVersion(stdout io.Writer) int {
	info, ok := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(info, ok))
	return 0
}
