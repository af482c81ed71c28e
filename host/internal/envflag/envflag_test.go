package envflag

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		listen  string
		procs   int
		wantErr string
	}{
		{name: "defaults", listen: "127.0.0.1:1", procs: 1},
		{name: "env fills", env: map[string]string{"X_LISTEN": "0.0.0.0:2", "X_MAX_PROCS": "3"}, listen: "0.0.0.0:2", procs: 3},
		{name: "command line wins", args: []string{"--listen", "a:1"}, env: map[string]string{"X_LISTEN": "b:2"}, listen: "a:1", procs: 1},
		{name: "bad value names the variable", env: map[string]string{"X_MAX_PROCS": "many"}, listen: "127.0.0.1:1", procs: 1, wantErr: `X_MAX_PROCS="many"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			listen := fs.String("listen", "127.0.0.1:1", "")
			procs := fs.Int("max-procs", 1, "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := Apply(fs, "X_", func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || *listen != tc.listen || *procs != tc.procs {
				t.Fatalf("listen %q procs %d err %v, want %q %d", *listen, *procs, err, tc.listen, tc.procs)
			}
		})
	}
}
