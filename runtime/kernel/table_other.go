//go:build !amd64 || purego

package kernel

// registerArch adds no entries: only the Go references run.
func registerArch() {}
