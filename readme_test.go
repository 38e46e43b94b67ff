package acsidentity

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installProgram is what a new user writes before following the README's
// install recipe: a program that imports the module.
const installProgram = `package main

import (
	"context"
	"fmt"
	"log"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

func main() {
	srv, err := emulator.Start(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}
	u, err := client.CreateUser(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", u.User.ID)
}
`

// TestREADMEInstallRecipe follows each recipe of README.md's "Install"
// section as written, in a scratch module beside a "clone" of this
// repository, after writing a program that imports the module (the
// recipe's first step), and runs the program. The commands come from the
// README itself, so the text and the test cannot drift apart. The go
// command runs with GOPROXY=off: everything comes from the module cache
// that this module's own build filled.
func TestREADMEInstallRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	blocks := installBlocks(t)
	if len(blocks) != 2 {
		t.Fatalf("README's Install section has %d sh blocks, want 2 (replace, workspace): %q", len(blocks), blocks)
	}
	for _, tc := range []struct {
		name       string
		block      int
		wrongOrder bool
	}{
		{"replace", 0, false},
		{"workspace", 1, false},
		// The first recipe in the wrong order, as the README warns: tidy
		// before any import drops the requirement, the build fails, and
		// the README's remedy (add the import, tidy again) works.
		{"replace before the import", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			app := filepath.Join(dir, "app")
			if err := os.Mkdir(app, 0o755); err != nil {
				t.Fatal(err)
			}
			// The clone the recipes start from (in the first block only).
			if err := os.Symlink(repo, filepath.Join(dir, "acsidentity")); err != nil {
				t.Fatal(err)
			}
			env := append(os.Environ(), "GOPROXY=off", "GOSUMDB=off", "GOWORK=", "GOTOOLCHAIN=local", "GOFLAGS=")
			goCmd := func(args ...string) []byte {
				t.Helper()
				cmd := exec.Command("go", args...)
				cmd.Dir, cmd.Env = app, env
				out, err := cmd.CombinedOutput()
				if err != nil {
					needModules(t, out)
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			goCmd("mod", "init", "example.com/app")
			writeProgram := func() {
				if err := os.WriteFile(filepath.Join(app, "main.go"), []byte(installProgram), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.wrongOrder {
				writeProgram()
			}
			for _, line := range blocks[tc.block] {
				switch f := strings.Fields(line); {
				case len(f) >= 3 && f[0] == "git" && f[1] == "clone":
					if f[len(f)-1] != "../acsidentity" {
						t.Fatalf("the README clones into %q; this test links the repository as ../acsidentity", f[len(f)-1])
					}
				case f[0] == "go":
					goCmd(f[1:]...)
				default:
					t.Fatalf("the README's recipe has a line this test cannot run: %q", line)
				}
			}
			if tc.wrongOrder {
				writeProgram()
				build := exec.Command("go", "build", "-o", os.DevNull, ".")
				build.Dir, build.Env = app, env
				if out, err := build.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("replaced but not required")) {
					t.Fatalf("go build after tidying before the import: %v\n%s\nwant the failure the README describes", err, out)
				}
				goCmd("mod", "tidy")
			}
			out := goCmd("run", ".")
			if !bytes.Contains(out, []byte("created 8:acs:")) {
				t.Fatalf("the program printed %q", out)
			}
		})
	}
}

// needModules stops the test when the go command failed only because a
// module the recipe needs is not in the module cache. Tests never reach
// the module proxy, and a fresh machine's cache holds what this module
// builds with, not everything a new module's "go mod tidy" reads (the
// tests of azcore, which import testify; the go.mod files of the unpruned
// module graph that a workspace loads). "go mod download all" in this
// repository fetches them; .ci/run does, and with CI=true a missing
// module fails the test instead of skipping it.
func needModules(t *testing.T, out []byte) {
	t.Helper()
	if !bytes.Contains(out, []byte("module lookup disabled by GOPROXY=off")) {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("a module the install recipe needs is not in the module cache, and CI=true: run \"go mod download all\" first (.ci/run does)\n%s", out)
	}
	t.Skipf("a module the install recipe needs is not in the module cache; run \"go mod download all\" to run this test\n%s", out)
}

// installBlocks returns the commands of each sh block in README.md's
// "### Install" section, without comments and blank lines.
func installBlocks(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks [][]string
	in, fenced := false, false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			if fenced {
				break // a comment inside a block
			}
			if in && strings.HasPrefix(line, "##") {
				return blocks
			}
			in = line == "### Install"
		case !in:
		case line == "```sh":
			fenced = true
			blocks = append(blocks, nil)
		case line == "```":
			fenced = false
		case fenced && strings.TrimSpace(line) != "":
			cmd, _, _ := strings.Cut(line, " #")
			blocks[len(blocks)-1] = append(blocks[len(blocks)-1], strings.TrimSpace(cmd))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestREADMEListsEveryFuzzTarget keeps the README's fuzzing paragraph
// complete: every Fuzz function in the repository is named there.
func TestREADMEListsEveryFuzzTarget(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(src)) {
			if name, ok := strings.CutPrefix(line, "func Fuzz"); ok {
				name, _, _ = strings.Cut(name, "(")
				targets = append(targets, "Fuzz"+name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) < 6 {
		t.Fatalf("found only %v; is the walk looking in the right place?", targets)
	}
	for _, name := range targets {
		if !bytes.Contains(readme, []byte("`"+name+"`")) {
			t.Errorf("README.md does not name the fuzz target %s", name)
		}
	}
}
