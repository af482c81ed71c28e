package bridge

import (
	"testing"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// TestValidateHeadersTable covers the header-injection characters in both
// names and values (response splitting), and that ordinary headers stay accepted.
func TestValidateHeadersTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    string
		values []string
		ok     bool
	}{
		{"plain", "Content-Type", []string{"text/plain"}, true},
		{"multi-value", "Set-Cookie", []string{"a=1", "b=2"}, true},
		{"tab inside value", "X-Tab", []string{"a\tb"}, true},
		{"empty value", "X-Empty", []string{""}, true},
		{"CR in value", "X-V", []string{"a\rb"}, false},
		{"LF in value", "X-V", []string{"a\nb"}, false},
		{"CRLF splitting the response", "X-V", []string{"a\r\n\r\n<html>"}, false},
		{"NUL in value", "X-V", []string{"a\x00"}, false},
		{"bad second value", "X-V", []string{"fine", "a\nb"}, false},
		{"CR in name", "X-N\r", []string{"v"}, false},
		{"LF in name", "X-N\nSet-Cookie", []string{"v"}, false},
		{"NUL in name", "X-N\x00", []string{"v"}, false},
		{"space in name", "X N", []string{"v"}, false},
		{"empty name", "", []string{"v"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateHeaders([]*pb.HTTPHeader{{Key: "X-Fine", Values: []string{"ok"}}, {Key: tc.key, Values: tc.values}})
			if (err == nil) != tc.ok {
				t.Fatalf("validateHeaders(%q: %q) = %v, want ok=%v", tc.key, tc.values, err, tc.ok)
			}
		})
	}
}
