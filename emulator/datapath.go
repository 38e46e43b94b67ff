package emulator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// maxLinks is how many symbolic links resolveDataFile follows before it
// gives up on a loop.
const maxLinks = 40

// resolveDataFile returns the file that path names once every symbolic
// link is followed, even if that file does not exist yet (a dangling link
// names the file to create). The emulator locks and writes the resolved
// file, so that a symlinked data file stays a symlink and two emulators
// that reach one file by different names share one lock.
func resolveDataFile(path string) (string, error) {
	p := path
	for range maxLinks {
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return "", err
		}
		p = filepath.Join(dir, filepath.Base(p))
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) || err == nil && fi.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		p = target
	}
	return "", fmt.Errorf("more than %d symbolic links to follow", maxLinks)
}
