package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// certDirName is the directory, in the user's cache directory, that holds
// the -tls certificate by default.
const certDirName = "acsidentity-emulator"

// defaultCertOut is -cert-out's default: emulator.crt in a directory of
// the user's own (os.UserCacheDir: $XDG_CACHE_HOME or ~/.cache on Linux,
// ~/Library/Caches on macOS, %LocalAppData% on Windows), never the shared
// temporary directory, where another user could plant a link or a file of
// theirs at the name. It is "" when there is no such directory ($HOME
// unset); -tls then needs -cert-out.
func defaultCertOut() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, certDirName, "emulator.crt")
}

// writeCertificate writes the -tls certificate to path (-cert-out), making
// the default's directory if it is missing.
func writeCertificate(path string, pem []byte) error {
	if path == "" {
		return errors.New("there is no per-user cache directory to put it in ($XDG_CACHE_HOME and $HOME are unset); give -cert-out FILE")
	}
	if path == defaultCertOut() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
	}
	return replaceFile(path, pem)
}

// replaceFile writes data to path as a new file that this process's user
// owns, mode 0644, and that appears whole or not at all: it is written
// under a fresh random name in path's directory and renamed over path. A
// link at path is replaced, never followed, and a file at path is replaced,
// never written into: another user who planted either keeps nothing that
// the emulator's clients then trust. Where the directory does not let this
// user replace what is at path (another user's file in a sticky directory
// such as /tmp), it fails and says so.
func replaceFile(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
		if errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("%w: something at %s that this user may not replace is there (another user's file, in a directory such as /tmp where only a file's owner may replace it); choose another file", err, path)
		}
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
