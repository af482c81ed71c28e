// Package files opens files under one directory, the files root, for the
// host to serve itself: the bridge's file offload (a plugin answers with
// X-Sendfile: REL) and the Go-direct /direct/file route share it.
//
// A name is a slash-separated path relative to the root. Names that are not
// clean (fs.ValidPath: no "..", ".", empty element, leading or trailing
// slash; and no NUL) are refused before the file system is asked, and os.Root resolves
// the rest, so neither an absolute name nor a symbolic link can reach a file
// outside the root. Only regular files are served.
package files

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"syscall"
)

// Why a name cannot be served.
var (
	// ErrNotFound: no such file (or a path through a non-directory). 404.
	ErrNotFound = errors.New("no such file under the files root")
	// ErrNotRegular: a directory, device, FIFO or socket. 404, like a
	// missing file: the host serves files, never listings.
	ErrNotRegular = errors.New("not a regular file")
	// ErrForbidden: the name is not a clean relative path, leads out of the
	// root (through "..", an absolute name or a symbolic link), loops, or the
	// host may not read it. 403.
	ErrForbidden = errors.New("path is not a readable file inside the files root")
)

// Root is the files root, opened once; safe for concurrent use.
type Root struct {
	root *os.Root
}

// OpenRoot opens dir as the files root. dir must be an existing directory.
func OpenRoot(dir string) (*Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Root{root: root}, nil
}

// Name is the directory the root was opened with.
func (r *Root) Name() string { return r.root.Name() }

// Close closes the root's directory.
func (r *Root) Close() error { return r.root.Close() }

// File is an open regular file under the root.
type File struct {
	*os.File
	Info fs.FileInfo
}

// Open opens the regular file name (slash-separated, relative to the root)
// for reading. Its errors wrap ErrNotFound, ErrNotRegular or ErrForbidden,
// or are the file system's own (an I/O error).
func (r *Root) Open(name string) (*File, error) {
	if !fs.ValidPath(name) || name == "." || strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("%w: %q", ErrForbidden, name)
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it changes
	// nothing for a regular file.
	f, err := r.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, classifyOpen(err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %q is %s", ErrNotRegular, name, describeMode(info.Mode()))
	}
	return &File{File: f, Info: info}, nil
}

// classifyOpen names why os.Root could not open a clean name.
func classifyOpen(err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	case !errors.As(err, &errno):
		// Not the system's refusal but os.Root's own: the name leads out
		// of the root ("path escapes from parent").
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return err
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// Status is the HTTP status for an error of Open: 404, 403, else 500.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotRegular):
		return http.StatusNotFound
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// Reason is a short text for an error of Open: its sentinel's, or "cannot
// read the file".
func Reason(err error) string {
	for _, known := range []error{ErrNotFound, ErrNotRegular, ErrForbidden} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return "cannot read the file"
}
