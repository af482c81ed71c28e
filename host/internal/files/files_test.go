package files

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// testRoot is a files root with one of each kind of entry, and a secret
// beside it that no name may reach.
func testRoot(t *testing.T) *Root {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(root, 0o755))
	must(os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644))
	must(os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello"), 0o644))
	must(os.Mkdir(filepath.Join(root, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sub", "inner.txt"), []byte("inner"), 0o644))
	must(os.Symlink("../secret.txt", filepath.Join(root, "up-link")))
	must(os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(root, "abs-link")))
	must(os.Symlink("sub/inner.txt", filepath.Join(root, "in-link")))
	must(os.Symlink("loop", filepath.Join(root, "loop")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	r, err := OpenRoot(root)
	must(err)
	t.Cleanup(func() { r.Close() })
	return r
}

func TestOpen(t *testing.T) {
	r := testRoot(t)
	for _, tc := range []struct {
		name   string
		want   string // content; "" when refused
		status int
		is     error
	}{
		{"hello.txt", "hello", 200, nil},
		{"sub/inner.txt", "inner", 200, nil},
		{"in-link", "inner", 200, nil}, // a link that stays inside is followed
		{"missing.txt", "", 404, ErrNotFound},
		{"hello.txt/x", "", 404, ErrNotFound},
		{"sub", "", 404, ErrNotRegular},
		{"fifo", "", 404, ErrNotRegular}, // and opening it does not wait for a writer
		{"../secret.txt", "", 403, ErrForbidden},
		{"sub/../../secret.txt", "", 403, ErrForbidden},
		{"sub/../hello.txt", "", 403, ErrForbidden}, // not clean, even though it stays inside
		{"/etc/passwd", "", 403, ErrForbidden},
		{"up-link", "", 403, ErrForbidden},
		{"abs-link", "", 403, ErrForbidden},
		{"loop", "", 403, ErrForbidden},
		{"", "", 403, ErrForbidden},
		{".", "", 403, ErrForbidden},
		{"sub/", "", 403, ErrForbidden},
		{"a\x00b", "", 403, ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := r.Open(tc.name)
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer f.Close()
				got, err := io.ReadAll(f)
				if err != nil || string(got) != tc.want || f.Info.Size() != int64(len(tc.want)) {
					t.Fatalf("read %q (size %d), err %v; want %q", got, f.Info.Size(), err, tc.want)
				}
				return
			}
			if f != nil {
				f.Close()
				t.Fatalf("Open succeeded, want %v", tc.is)
			}
			if !errors.Is(err, tc.is) || Status(err) != tc.status || Reason(err) != tc.is.Error() {
				t.Fatalf("err %v (status %d, reason %q), want %v (%d)", err, Status(err), Reason(err), tc.is, tc.status)
			}
		})
	}
	if Status(errors.New("input/output error")) != http.StatusInternalServerError {
		t.Fatal("an I/O error is not a 500")
	}
}

func TestOpenRootMustExist(t *testing.T) {
	if _, err := OpenRoot(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v, want not-exist", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRoot(file); err == nil {
		t.Fatal("a regular file opened as the files root")
	}
}
