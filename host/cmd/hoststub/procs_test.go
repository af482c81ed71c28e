package main

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestMaxProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for _, tc := range []struct {
		name string
		n    int
		env  map[string]string
		want int
	}{
		{"flag applies", 1, nil, 1},
		{"flag applies again", 3, nil, 3},
		{"GOMAXPROCS in the environment wins", 1, map[string]string{"GOMAXPROCS": "3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := applyMaxProcs(tc.n, env(tc.env)); got != tc.want {
				t.Errorf("GOMAXPROCS %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMaxProcsFlag(t *testing.T) {
	cfg, err := parseConfig([]string{"--plugin-addr", "unix:/x"}, env(nil), io.Discard)
	if err != nil || cfg.maxProcs != max(1, goDefaultProcs/2) {
		t.Fatalf("default max-procs %d (err %v), want half of %d", cfg.maxProcs, err, goDefaultProcs)
	}
	cfg, err = parseConfig([]string{"--plugin-addr", "unix:/x"}, env(map[string]string{"HOSTSTUB_MAX_PROCS": "2"}), io.Discard)
	if err != nil || cfg.maxProcs != 2 {
		t.Fatalf("HOSTSTUB_MAX_PROCS=2: %d, err %v", cfg.maxProcs, err)
	}
	if _, err := parseConfig([]string{"--plugin-addr", "unix:/x", "--max-procs", "0"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "max-procs") {
		t.Fatalf("--max-procs 0: err %v, want a usage error naming the flag", err)
	}
}
