package datafile

// closeBeforeRename reports whether the data file must be closed before a
// new one is renamed over it: on Windows a file open without
// FILE_SHARE_DELETE, as os.OpenFile opens it, cannot be replaced.
const closeBeforeRename = true
