package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFlagsComeFromEnvUnlessGiven(t *testing.T) {
	env := map[string]string{"LOADGEN_CONNECTIONS": "7", "LOADGEN_DURATION": "2s", "LOADGEN_URL": "http://env"}
	c, err := parseConfig([]string{"--url", "http://flag"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "http://flag" || c.Connections != 7 || c.Duration != 2*time.Second {
		t.Fatalf("got url %q connections %d duration %v", c.URL, c.Connections, c.Duration)
	}
}

func TestBadInputExitsTwoWithAReason(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no url", []string{"--requests", "1"}, nil, "a URL is required"},
		{"bad env", []string{"--url", "http://x", "--requests", "1"}, map[string]string{"LOADGEN_CONNECTIONS": "many"}, "LOADGEN_CONNECTIONS"},
		{"stray argument", []string{"--url", "http://x", "extra"}, nil, "unexpected arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestRunPrintsOneJSONResult(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(make([]byte, 1024)) }))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--url", srv.URL, "--connections", "2", "--requests", "20", "--expect-bytes", "1024"},
		func(string) string { return "" }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got struct {
		Requests    int     `json:"requests"`
		Errors      int     `json:"errors"`
		LatenciesUS []int64 `json:"latencies_us"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %q", err, stdout.String())
	}
	if got.Requests != 20 || got.Errors != 0 || len(got.LatenciesUS) != 20 {
		t.Fatalf("got %+v", got)
	}
}
