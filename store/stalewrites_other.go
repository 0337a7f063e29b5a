//go:build !unix

package store

// abandoned cannot tell a live writer's temporary file from a dead one's
// without flock: it keeps every one (removeStaleWrites names them).
func abandoned(path string) bool { return false }
