package emulator

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
)

// BenchmarkOpenLongJournal measures starting an emulator (New, which
// reads the data file, replays its journal and writes a full copy) on a
// data file whose journal holds 1,000,000 lines: 10,000 creates, then
// token issues and, one in ten, revocations of those identities (what a
// test suite run against one emulator for a long time leaves with a large
// -journal-limit). peak-RSS-MB is the process's peak resident memory
// during the start, above what it held before (Linux only). lines=100000
// is there for scale.
//
//	go test -run x -bench OpenLongJournal -benchtime 1x -count 3 ./emulator
func BenchmarkOpenLongJournal(b *testing.B) {
	for _, lines := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "state.json")
			writeLongJournal(b, path, lines, 10_000)
			b.ReportAllocs()
			b.ResetTimer()
			var peak float64
			for range b.N {
				b.StopTimer()
				// Start each round from a file with the whole journal,
				// as New folds it into a full copy.
				tmp := path + ".run"
				copyFile(b, path, tmp)
				runtime.GC()
				debug.FreeOSMemory()
				base := resetPeakRSS()
				b.StartTimer()
				e, err := New(&Options{DataFile: tmp})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if p := peakRSS(); p > 0 && base > 0 {
					peak = max(peak, float64(p-base)/(1<<20))
				}
				e.Close()
				os.Remove(tmp)
				b.StartTimer()
			}
			if peak > 0 {
				b.ReportMetric(peak, "peak-RSS-MB")
			}
			fi, _ := os.Stat(path)
			b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
		})
	}
}

// writeLongJournal writes, a line at a time, a data file whose full copy
// is empty and whose journal has lines changes: a create for each of ids
// identities, then token issues cycling over them, one in ten a
// revocation.
func writeLongJournal(tb testing.TB, path string, lines, ids int) {
	tb.Helper()
	seed := make([]byte, 32)
	rand.Read(seed)
	head, tip, err := datafile.Encode(&datafile.State{ResourceID: DevelopmentResourceID, SigningKey: seed})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(head)
	size := int64(len(head))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	all := make([]datafile.Identity, ids)
	var line []byte
	for i := range lines {
		seq := uint64(i + 1)
		it := &all[i%ids]
		if i < ids {
			*it = datafile.Identity{ID: "8:acs:" + DevelopmentResourceID + "_" + fmt.Sprintf("%08d-0000-4000-8000-%012d", i, i), Created: t0.Add(time.Duration(i) * time.Millisecond)}
		} else if i%10 == 0 {
			it.RevokedSeq, it.RevokedAt = seq, t0.Add(time.Duration(i)*time.Millisecond)
		} else {
			it.LastIssued = t0.Add(time.Duration(i) * time.Millisecond)
		}
		cp := *it
		raw, err := datafile.EncodeChange(&datafile.Change{TokenSeq: seq, Identity: &cp})
		if err != nil {
			tb.Fatal(err)
		}
		line, tip = datafile.AppendLine(line[:0], tip, raw)
		w.Write(line)
		size += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.WriteAt(datafile.JournalEnd(size, tip), datafile.JournalEndOffset); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// resetPeakRSS resets the process's peak resident set (Linux) and returns
// its resident set now, in bytes; 0 where it cannot.
func resetPeakRSS() int64 {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return 0
	}
	return procStatus("VmRSS:")
}

// peakRSS is the process's peak resident set in bytes since the last
// reset (Linux), or 0.
func peakRSS() int64 { return procStatus("VmHWM:") }

func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
