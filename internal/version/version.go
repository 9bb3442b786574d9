// Package version reports what binary this is. Version and Commit are set at build time
// with -ldflags "-X github.com/storage-auditor/auditor/internal/version.Version=v0.1.0 ...";
// otherwise they come from the Go build info.
package version

import (
	"runtime"
	"runtime/debug"
)

var (
	Version = ""
	Commit  = ""
)

// Info describes the running binary.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	ClientGo string `json:"clientGo"`
}

// Get returns the version information.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Go: runtime.Version(), ClientGo: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && i.Commit == "" {
				i.Commit = s.Value
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/client-go" {
				i.ClientGo = d.Version
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}
