// Package datafile keeps the emulator's state in a file: its format (a
// checksummed full copy of the state followed by a journal of changes, each
// chained to the one before, and a record of where the journal ends), the
// reading of it, the group-committed saving of changes with compaction in
// the background (Persister), and the lock that keeps a second emulator
// off the file. The emulator package documentation, under Persistence, says
// what it guarantees.
package datafile
