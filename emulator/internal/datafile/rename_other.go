//go:build !windows

package datafile

// closeBeforeRename reports whether the data file must be closed before a
// new one is renamed over it: not where a file's name and its open
// handles are independent.
const closeBeforeRename = false
