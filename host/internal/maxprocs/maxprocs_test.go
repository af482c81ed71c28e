package maxprocs

import (
	"runtime"
	"testing"
)

func TestApply(t *testing.T) {
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
			getenv := func(k string) string { return tc.env[k] }
			if got := Apply(tc.n, getenv); got != tc.want {
				t.Errorf("GOMAXPROCS %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDefaultIsHalfOfGos(t *testing.T) {
	if got, want := Default(), max(1, GoDefault/2); got != want {
		t.Fatalf("Default() = %d, want half of Go's %d (at least 1) = %d", got, GoDefault, want)
	}
}
