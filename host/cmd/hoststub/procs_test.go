package main

import (
	"io"
	"strings"
	"testing"

	"github.com/streambench/host/internal/maxprocs"
)

func TestMaxProcsFlag(t *testing.T) {
	cfg, err := parseConfig([]string{"--plugin-addr", "unix:/x"}, env(nil), io.Discard)
	if err != nil || cfg.maxProcs != maxprocs.Default() {
		t.Fatalf("default max-procs %d (err %v), want half of %d", cfg.maxProcs, err, maxprocs.GoDefault)
	}
	cfg, err = parseConfig([]string{"--plugin-addr", "unix:/x"}, env(map[string]string{"HOSTSTUB_MAX_PROCS": "2"}), io.Discard)
	if err != nil || cfg.maxProcs != 2 {
		t.Fatalf("HOSTSTUB_MAX_PROCS=2: %d, err %v", cfg.maxProcs, err)
	}
	if _, err := parseConfig([]string{"--plugin-addr", "unix:/x", "--max-procs", "0"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "max-procs") {
		t.Fatalf("--max-procs 0: err %v, want a usage error naming the flag", err)
	}
}
